"""The shipped workflows and pre-commit hook keep the promises their headers make:
pinned official actions, least privilege, one sticky comment per environment, serialised
applies, and only `cxrecon github` commands and options that exist. The helpers at the end
run a step's script the way the runner does, for the other test_workflow_* files."""

from __future__ import annotations

import atexit
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.cli.github import github
from reconciler.cli.main import COMMANDS
from reconciler.gitops.workflows import WORKFLOW_FILES, SecretUse, render_workflows

ROOT = Path(__file__).resolve().parents[2]
#: The workflows that run in cxrecon's own repository: its CI and its container image.
OWN_WORKFLOWS = ROOT / ".github" / "workflows"
OWN = ("ci.yml", "image.yml")
#: The workflows `cxrecon init` writes into a connectors repository (apply.yml calls
#: apply-environment.yml), from the templates shipped as package data.
TEMPLATES = WORKFLOW_FILES
TEMPLATE_DIR = ROOT / "reconciler" / "templates" / "workflows"
#: The sample project's workflows: made for this repository's connectors and two
#: environments as `cxrecon init` makes them, beside copies of cxrecon's own (one folder
#: for every check below).
SAMPLE_ENVIRONMENTS = ("sandbox", "production")
_REFERENCE = re.compile(r"\$\{(env|file):([^}]+)\}")


def _sample_workflows() -> Path:
    uses = {
        SecretUse(kind, name)
        for path in (ROOT / "connectors").glob("*.yaml")
        for kind, name in _REFERENCE.findall(path.read_text(encoding="utf-8"))
    }
    top = Path(tempfile.mkdtemp(prefix="cxrecon-workflows-"))
    atexit.register(shutil.rmtree, top, ignore_errors=True)
    # Where a repository keeps them: zizmor and actionlint look for this folder.
    folder = top / ".github" / "workflows"
    folder.mkdir(parents=True)
    rendered = render_workflows(SAMPLE_ENVIRONMENTS, dict.fromkeys(SAMPLE_ENVIRONMENTS, uses))
    for name, text in rendered.items():
        (folder / name).write_text(text, encoding="utf-8")
    for name in OWN:
        shutil.copy(OWN_WORKFLOWS / name, folder / name)
    return folder


WORKFLOWS = _sample_workflows()
PINNED = re.compile(r"^actions/[a-z-]+@[0-9a-f]{40}$")
#: A reusable workflow of the same repository, at the caller's commit.
SELF = re.compile(r"^\$/\.github/workflows/[a-z-]+\.yml$")


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    # YAML 1.1 reads the bare key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def write_scopes(permissions: dict[str, str]) -> set[str]:
    return {scope for scope, level in permissions.items() if level == "write"}


def test_every_workflow_is_checked_here() -> None:
    assert {path.name for path in WORKFLOWS.glob("*")} == {*OWN, *TEMPLATES}
    assert {path.name for path in TEMPLATE_DIR.glob("*")} == set(TEMPLATES)


def test_no_template_runs_in_the_tool_repository() -> None:
    # Only cxrecon's own CI runs here; the templates are package data for `cxrecon init`.
    assert {path.name for path in OWN_WORKFLOWS.glob("*")} == set(OWN)


@pytest.mark.parametrize("name", [*OWN, *TEMPLATES])
def test_every_action_is_official_and_pinned_to_a_commit(name: str) -> None:
    for step in steps(load(name)):
        if "uses" in step:
            assert PINNED.match(step["uses"]), f"{name}: {step['uses']} is not a pinned actions/*"
    for job in load(name)["jobs"].values():
        if "uses" in job:
            assert SELF.match(job["uses"]), f"{name}: {job['uses']} is not this repository's"


@pytest.mark.parametrize("name", [*OWN, *TEMPLATES])
def test_checkout_never_leaves_the_token_in_the_workspace(name: str) -> None:
    for step in steps(load(name)):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize(
    ("name", "job_writes"),
    [
        ("ci.yml", {"test": set()}),
        ("image.yml", {"build": set(), "publish": {"packages"}}),
        ("plan.yml", {"validate": set(), "plan": {"pull-requests"}}),
        ("apply.yml", {"sandbox": set(), "production": set()}),
        ("apply-environment.yml", {"apply": set()}),
        ("drift.yml", {"drift": {"issues"}}),
    ],
)
def test_permissions_are_read_only_except_where_a_comment_or_issue_is_written(
    name: str, job_writes: dict[str, set[str]]
) -> None:
    workflow = load(name)
    assert workflow["permissions"] == {"contents": "read"}
    assert set(workflow["jobs"]) == set(job_writes)
    for job_name, expected in job_writes.items():
        permissions = workflow["jobs"][job_name]["permissions"]
        assert permissions["contents"] == "read"
        assert write_scopes(permissions) == expected


@pytest.mark.parametrize("name", TEMPLATES)
def test_generated_workflows_document_their_secrets(name: str) -> None:
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    header = text.split("\nname:", 1)[0]
    assert header.startswith("# Generated by `cxrecon init` for this project's environments")
    assert "(sandbox, production)" in header.splitlines()[0]
    for needed in ("CXONE_CLIENT_ID", "CXONE_CLIENT_SECRET", "CXONE_BASE_URL", "secrets:"):
        assert needed in header
    assert "CXRECON_INSTALL" in header
    # Generated for the team's repository, they run there unconditionally; no placeholder
    # is left behind.
    assert "CXRECON_TEMPLATES_DISABLED" not in text
    assert "__CXRECON" not in text


@pytest.mark.parametrize("name", TEMPLATES)
def test_cxone_secrets_reach_only_the_step_that_talks_to_cxone(name: str) -> None:
    workflow = load(name)
    for job in workflow["jobs"].values():
        assert "secrets." not in str(job.get("env", {}))
        job_steps = job.get("steps", [])
        holders = [step["name"] for step in job_steps if "secrets." in str(step.get("env"))]
        assert holders in ([], ["Plan"], ["Apply"], ["Detect drift"])
        assert "secrets" not in job  # a reusable workflow gets only its environment's
        for step in job_steps:
            if "GH_TOKEN" in step.get("env", {}):
                assert "secrets." not in str(step["env"])


def test_plan_runs_per_environment_and_keeps_one_sticky_comment_each() -> None:
    workflow = load("plan.yml")
    plan = workflow["jobs"]["plan"]
    assert plan["strategy"]["matrix"]["environment"] == ["sandbox", "production"]
    assert plan["needs"] == "validate"
    names = [step.get("name") for step in plan["steps"]]
    assert names.index("Plan") < names.index("Comment on the pull request")
    upload = next(s for s in plan["steps"] if "upload-artifact" in str(s.get("uses")))
    assert "plan-${{ matrix.environment }}.json" in upload["with"]["path"]
    assert "--detailed-exitcode" in next(s for s in plan["steps"] if s.get("name") == "Plan")["run"]
    assert workflow["concurrency"]["cancel-in-progress"] is True


def test_applies_to_one_environment_never_overlap_and_are_never_cancelled() -> None:
    workflow = load("apply.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert {".github/workflows/apply.yml", ".github/workflows/apply-environment.yml"} <= set(
        workflow["on"]["push"]["paths"]
    )
    assert "concurrency" not in workflow
    (apply,) = load("apply-environment.yml")["jobs"].values()
    assert apply["concurrency"] == {
        "group": "cxrecon-apply-${{ inputs.environment }}",
        "cancel-in-progress": False,
    }
    assert apply["environment"] == "${{ inputs.environment }}"
    run = next(s for s in apply["steps"] if s.get("name") == "Apply")["run"]
    assert "--auto-approve" in run
    assert "--audit-log" in run
    upload = next(s for s in apply["steps"] if "upload-artifact" in str(s.get("uses")))
    assert upload["if"].startswith("always()")
    assert "audit-${{ inputs.environment }}.jsonl" in upload["with"]["path"]


def test_drift_runs_on_a_schedule_and_by_hand() -> None:
    triggers = load("drift.yml")["on"]
    assert set(triggers) == {"schedule", "workflow_dispatch"}
    assert triggers["schedule"][0]["cron"]


SAMPLE_VALUES = {"CXRECON_ENVIRONMENT": "sandbox", "ARTIFACT": "cxrecon-apply-sandbox"}


def expand(word: str) -> str:
    """Stand-in values for the step's shell variables (exit codes are numbers)."""

    def value(match: re.Match[str]) -> str:
        name = match[1]
        return "2" if name.endswith("EXIT_CODE") else SAMPLE_VALUES.get(name, "x")

    return re.sub(r"\$\{?([A-Z_]+)\}?", value, word)


def cxrecon_github_calls() -> list[list[str]]:
    calls = []
    for name in TEMPLATES:
        for step in steps(load(name)):
            script = str(step.get("run", "")).replace("\\\n", " ")
            for line in script.splitlines():
                if not line.strip().startswith("cxrecon github "):
                    continue  # other lines may open a quote the next line closes
                words = shlex.split(line)
                if words[:2] == ["cxrecon", "github"]:
                    calls.append([expand(word) for word in words[2:]])
    return calls


def test_workflows_call_only_github_subcommands_and_options_that_exist() -> None:
    calls = cxrecon_github_calls()
    assert {call[0] for call in calls} == {
        "plan-comment",
        "apply-summary",
        "drift-issue",
        "reviewed-plan",
        "audit-history",
    }
    for subcommand, *args in calls:
        command = github.commands[subcommand]
        # Parsing raises on an unknown option, a missing required one or a non-integer code.
        ctx = command.make_context(subcommand, args)
        assert ctx.params["environment"] == "sandbox"
        if subcommand not in ("reviewed-plan", "audit-history"):  # steps before cxrecon's own
            assert ctx.params["exit_code"] == 2


def test_the_github_group_is_registered_and_hidden() -> None:
    assert COMMANDS["github"] == "reconciler.cli.github:github"
    assert github.hidden


def test_the_pre_commit_hook_validates_the_whole_directory_when_a_connector_changes() -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["id"] == "cxrecon-validate"
    assert hook["language"] == "python"
    assert hook["entry"] == "cxrecon validate"
    assert hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    for path in ("connectors/salesforce.yaml", "connectors/teams/zendesk.yml", "cxrecon.yaml"):
        assert files.search(path), path
    for path in ("README.md", "connectors/notes.txt", "other/connectors/x.yaml"):
        assert not files.search(path), path


# -- running a step's `run:` script (shared by the test_workflow_* files) --------------------

#: What `shell: bash` (the default on Linux runners) runs a `run:` script with.
ACTIONS_BASH = ("bash", "--noprofile", "--norc", "-eo", "pipefail")


def step_named(workflow: dict[str, Any], name: str) -> dict[str, Any]:
    found = [step for step in steps(workflow) if step.get("name") == name]
    assert found, f"no step named {name!r}"
    return found[0]


def fake_command(bin_dir: Path, name: str, *, stdout: str = "", exit_code: int = 0) -> Path:
    """An executable `name` in `bin_dir` that records its argv (one JSON list a line in
    `name.calls`), prints `stdout` and exits with `exit_code`."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    log = bin_dir / f"{name}.calls"
    script = bin_dir / name
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"with open({str(log)!r}, 'a', encoding='utf-8') as f:\n"
        "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"sys.stdout.write({stdout!r})\n"
        f"sys.exit({exit_code})\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return log


def recorded_calls(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def run_step(
    step: dict[str, Any], *, cwd: Path, env: dict[str, str], bin_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the step's script as the runner would, with `env` (the step's `env:` already
    evaluated by the caller) and `bin_dir` first on PATH."""
    script = cwd / f".step-{abs(hash(step['run']))}.sh"
    script.write_text(step["run"], encoding="utf-8")
    path = os.pathsep.join(p for p in (str(bin_dir) if bin_dir else "", os.environ["PATH"]) if p)
    full_env = {"PATH": path, "HOME": str(cwd), "LC_ALL": "C.UTF-8", **env}
    return subprocess.run(
        [*ACTIONS_BASH, str(script)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
