"""zizmor (GitHub Actions security lint) runs in .ci/run next to actionlint, offline, at its
default persona, and finds nothing in the shipped workflows (issue 14)."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from .test_workflow_files import ROOT, WORKFLOWS

ZIZMOR = ["zizmor", "--offline", "--no-progress", "--color", "never"]


def zizmor(path: Path, home: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("zizmor") is None:
        pytest.fail("zizmor is missing: pip install -e '.[test]'")
    # No token either: --offline already forbids the network; this makes it doubly sure.
    env = {"PATH": str(Path(shutil.which("zizmor") or "").parent), "HOME": str(home)}
    return subprocess.run(
        [*ZIZMOR, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_ci_runs_zizmor_offline_on_the_workflows_and_on_those_init_writes() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    own, generated = [
        line.strip() for line in script.splitlines() if line.strip().startswith("zizmor")
    ]
    for line in (own, generated):
        assert "--offline" in line.split()
        for stricter in ("--persona", "--pedantic", "-p"):  # the default persona
            assert stricter not in line.split()
    assert own.split()[-1] == ".github/workflows"
    assert generated.split()[-1] == '"$sample/.github/workflows"'
    assert script.index("actionlint\n") < script.index(own)
    assert "cxrecon init" in script[: script.index(generated)]


def test_actionlint_finds_nothing_in_the_generated_workflows(tmp_path: Path) -> None:
    if shutil.which("actionlint") is None:
        pytest.fail("actionlint is missing: pip install -e '.[test]'")
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    done = subprocess.run(
        ["actionlint", "-no-color", *files],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_is_in_the_test_extra() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extra = config["project"]["optional-dependencies"]["test"]
    assert any(requirement.startswith("zizmor") for requirement in extra)


def test_the_shipped_workflows_have_no_findings(tmp_path: Path) -> None:
    done = zizmor(WORKFLOWS, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


def test_offline_zizmor_still_catches_a_template_injection(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(
        """name: bad
on: pull_request
permissions: {}
jobs:
  greet:
    runs-on: ubuntu-24.04
    steps:
      - run: echo "${{ github.event.pull_request.title }}"
""",
        encoding="utf-8",
    )
    done = zizmor(workflows, tmp_path)
    assert done.returncode != 0
    assert "template-injection" in done.stdout
