"""The plan workflow's two steps end to end: the real `cxrecon plan` (against the embedded
emulator) writes Markdown and an exit code, and `cxrecon github plan-comment` posts them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from .conftest import ActionsJob
from .test_workflow_files import ROOT


def test_the_real_plan_output_becomes_the_sticky_comment(job: ActionsJob) -> None:
    shutil.copytree(ROOT / "connectors", job.workdir / "connectors")
    shutil.copy(ROOT / "cxrecon.yaml", job.workdir / "cxrecon.yaml")
    job.gh.respond("GET", "issues/42/comments", stdout="[]")
    job.gh.respond("POST", "issues/42/comments", stdout={"id": 7, "body": "", "html_url": "u"})

    # The "Plan" step of plan.yml, with --emulator in place of a tenant.
    with (job.workdir / "plan.md").open("w", encoding="utf-8") as markdown:
        plan = subprocess.run(
            [sys.executable, "-m", "reconciler", "plan", "--emulator", "--format", "markdown",
             "--out", "plan-local.json", "--detailed-exitcode"],
            cwd=job.workdir, env=job.env, stdout=markdown, stderr=subprocess.PIPE, text=True,
            timeout=120, check=False,
        )  # fmt: skip
    assert plan.returncode == 2, plan.stderr
    assert json.loads((job.workdir / "plan-local.json").read_text(encoding="utf-8"))

    # The "Comment on the pull request" step.
    done = job.run(
        "plan-comment", "-e", "local", "--exit-code", str(plan.returncode),
        "--plan-markdown", "plan.md", "--artifact", "cxrecon-plan-local",
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    body = str(job.gh.writes()[0].body()["body"])
    assert body.startswith("<!-- cxrecon-plan:local -->\n\n## cxrecon plan")
    assert "📝 Changes to review" in body
    assert "4 to create" in body
    assert len(body) < 65_536
