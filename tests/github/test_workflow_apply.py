"""apply.yml (issues 13 and 14): production only after sandbox applied the same commit
cleanly, and `--allow-unsafe` only for the merge of a pull request a maintainer approved over
the safety gate with the `cxrecon:approve-over-gate` label."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.cli.apply import apply as apply_command
from reconciler.github.plan_comment import DEFAULT_APPROVAL_LABEL

from .conftest import ActionsJob
from .test_workflow_files import (
    WORKFLOWS,
    fake_command,
    load,
    recorded_calls,
    run_step,
    step_named,
)

CALLED = "$/.github/workflows/apply-environment.yml"  # GitHub's self-repository syntax
LABEL = "cxrecon:approve-over-gate"
SHA = "0123456789abcdef0123456789abcdef01234567"  # the simulated job's GITHUB_SHA
STATUS_FUNCTIONS = ("always()", "failure()", "cancelled()")


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def apply_job() -> dict[str, Any]:
    (job,) = load("apply-environment.yml")["jobs"].values()
    return dict(job)


# -- sandbox, then production -----------------------------------------------------------------


def test_sandbox_and_production_are_two_jobs_not_a_serialised_matrix() -> None:
    jobs = load("apply.yml")["jobs"]
    assert set(jobs) == {"sandbox", "production"}
    for name, job in jobs.items():
        assert "strategy" not in job
        assert job["uses"] == CALLED
        assert job["with"]["environment"] == name


def test_production_runs_only_after_sandbox_succeeded() -> None:
    production = load("apply.yml")["jobs"]["production"]
    assert "sandbox" in as_list(production["needs"])
    # Without a status function the implicit `success()` holds: a failed, cancelled or
    # skipped sandbox skips production.
    condition = str(production.get("if", ""))
    assert not any(function in condition for function in STATUS_FUNCTIONS)
    assert "continue-on-error" not in production


def test_both_environments_apply_the_commit_of_the_run() -> None:
    workflow = load("apply-environment.yml")
    assert set(workflow["on"]) == {"workflow_call"}
    assert workflow["on"]["workflow_call"]["inputs"]["environment"]["required"] is True
    job = apply_job()
    checkout = next(
        s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout@")
    )
    assert checkout["with"]["ref"] == "${{ github.sha }}"
    assert job["environment"] == "${{ inputs.environment }}"
    assert job["concurrency"] == {
        "group": "cxrecon-apply-${{ inputs.environment }}",
        "cancel-in-progress": False,
    }


def test_a_failed_apply_fails_the_job_so_production_is_skipped() -> None:
    job = apply_job()
    assert "continue-on-error" not in job
    summarise = step_named(load("apply-environment.yml"), "Summarise")
    assert "continue-on-error" not in summarise
    assert "--exit-code" in summarise["run"]


# -- the approval label ---------------------------------------------------------------------


def pull(
    number: int, *, merged: bool = True, sha: str = SHA, labels: tuple[str, ...] = ()
) -> dict[str, object]:
    return {
        "number": number,
        "state": "closed" if merged else "open",
        "merged_at": "2025-06-01T12:00:00Z" if merged else None,
        "merge_commit_sha": sha,
        "base": {"ref": "main"},
        "labels": [{"name": label} for label in labels],
    }


def run_approval(job: ActionsJob) -> tuple[int, str]:
    step = step_named(load("apply-environment.yml"), "Look up the over-gate approval")
    assert step["env"]["GH_TOKEN"] == "${{ github.token }}"
    env = {**job.env, "APPROVAL_LABEL": step["env"]["APPROVAL_LABEL"]}
    done = run_step(step, cwd=job.workdir, env=env)
    return done.returncode, done.stdout + done.stderr


def test_the_approval_label_is_the_one_plan_comments_ask_for() -> None:
    step = step_named(load("apply-environment.yml"), "Look up the over-gate approval")
    assert step["env"]["APPROVAL_LABEL"] == DEFAULT_APPROVAL_LABEL == LABEL


def test_the_merge_of_an_approved_pull_request_allows_unsafe(job: ActionsJob) -> None:
    job.use_event("event_push.json", "push")
    job.gh.respond(f"commits/{SHA}/pulls", stdout=[pull(42, labels=("bug", LABEL))])

    code, output = run_approval(job)

    assert code == 0, output
    assert job.outputs() == {"allow-unsafe": "true"}
    assert "#42" in output
    (call,) = job.gh.calls()
    assert call.argv[:2] == ["api", f"repos/acme/cx-connectors/commits/{SHA}/pulls?per_page=100"]


def test_the_merge_of_a_pull_request_without_the_label_keeps_the_gate(job: ActionsJob) -> None:
    job.use_event("event_push.json", "push")
    job.gh.respond(f"commits/{SHA}/pulls", stdout=[pull(42, labels=("bug",))])

    code, output = run_approval(job)

    assert code == 0, output
    assert job.outputs() == {"allow-unsafe": "false"}


def test_only_the_pull_request_whose_merge_made_the_commit_counts(job: ActionsJob) -> None:
    job.use_event("event_push.json", "push")
    other = "f" * 40
    job.gh.respond(
        f"commits/{SHA}/pulls",
        stdout=[
            pull(7, merged=False, sha=other, labels=(LABEL,)),  # open, merely contains it
            pull(8, sha=other, labels=(LABEL,)),  # merged, but as another commit
            pull(9),  # the merge that made this commit, unlabelled
        ],
    )

    code, output = run_approval(job)

    assert code == 0, output
    assert job.outputs() == {"allow-unsafe": "false"}


def test_a_commit_pushed_without_a_pull_request_keeps_the_gate(job: ActionsJob) -> None:
    job.use_event("event_push.json", "push")
    job.gh.respond(f"commits/{SHA}/pulls", stdout=[])

    code, output = run_approval(job)

    assert code == 0, output
    assert job.outputs() == {"allow-unsafe": "false"}


def test_a_run_by_hand_keeps_the_gate_without_asking_github(job: ActionsJob) -> None:
    job.use_event("event_push.json", "workflow_dispatch")

    code, output = run_approval(job)

    assert code == 0, output
    assert job.outputs() == {"allow-unsafe": "false"}
    assert job.gh.calls() == []


def test_a_failed_lookup_fails_the_step_instead_of_guessing(job: ActionsJob) -> None:
    job.use_event("event_push.json", "push")
    job.gh.respond(f"commits/{SHA}/pulls", stderr="HTTP 502", exit_code=1)

    code, output = run_approval(job)

    assert code != 0
    assert "::error" in output
    assert "allow-unsafe" not in job.outputs()


@pytest.mark.parametrize(
    ("allow", "reviewed", "expected"),
    [
        ("true", "reviewed/plan-sandbox.json", True),
        ("false", "reviewed/plan-sandbox.json", False),
        ("", "reviewed/plan-sandbox.json", False),
        # The approval covers the reviewed plan only: without one, the gate holds.
        ("true", "", False),
    ],
)
def test_the_apply_passes_allow_unsafe_only_for_an_approved_reviewed_plan(
    tmp_path: Path, allow: str, reviewed: str, expected: bool
) -> None:
    workflow = load("apply-environment.yml")
    step = step_named(workflow, "Apply")
    assert step["env"]["ALLOW_UNSAFE"] == "${{ steps.approval.outputs.allow-unsafe }}"
    assert step["env"]["REVIEWED_PLAN"] == "${{ steps.reviewed.outputs.plan-file }}"
    names = [s.get("name") for s in apply_job()["steps"]]
    assert names.index("Look up the over-gate approval") < names.index("Apply")
    assert names.index("Fetch the reviewed plan") < names.index("Apply")
    assert step_named(workflow, "Look up the over-gate approval")["id"] == "approval"
    assert step_named(workflow, "Fetch the reviewed plan")["id"] == "reviewed"

    bin_dir = tmp_path / "bin"
    log = fake_command(bin_dir, "cxrecon")
    output = tmp_path / "github_output"
    env = {
        "CXRECON_ENVIRONMENT": "sandbox",
        "ALLOW_UNSAFE": allow,
        "REVIEWED_PLAN": reviewed,
        "GITHUB_OUTPUT": str(output),
        "DYNAMICS_CLIENT_SECRET": "s3cret",
    }
    done = run_step(step, cwd=tmp_path, env=env, bin_dir=bin_dir)

    assert done.returncode == 0, done.stderr
    (argv,) = recorded_calls(log)
    assert argv[:2] == ["apply", "-e"]
    assert ("--allow-unsafe" in argv) is expected
    assert "--auto-approve" in argv
    # Every option is one `cxrecon apply` knows.
    context = apply_command.make_context("apply", argv[1:])
    assert context.params["allow_unsafe"] is expected
    if reviewed:
        assert context.params["plan_file"] == Path(reviewed)
        assert context.params["if_stale"] == "reviewed"
    else:
        assert context.params["plan_file"] is None
    assert output.read_text(encoding="utf-8") == "exit-code=0\n"
    assert not (tmp_path / ".secrets" / "dynamics-client-secret").exists()  # removed after


def test_the_reviewed_plan_is_fetched_with_the_jobs_token() -> None:
    step = step_named(load("apply-environment.yml"), "Fetch the reviewed plan")
    assert step["env"] == {"GH_TOKEN": "${{ github.token }}"}
    assert "cxrecon github reviewed-plan" in step["run"]


def test_the_apply_job_may_read_pull_requests_and_runs_and_write_nothing() -> None:
    expected = {"actions": "read", "contents": "read", "pull-requests": "read"}
    assert apply_job()["permissions"] == expected
    for job in load("apply.yml")["jobs"].values():
        assert job["permissions"] == expected


def test_the_header_says_what_a_superseding_run_does() -> None:
    # It claimed the newest run "applies everything merged so far"; with --if-stale reviewed
    # it writes only its own review and holds the rest ("not in the reviewed plan"), exit 1.
    header = (WORKFLOWS / "apply.yml").read_text(encoding="utf-8").split("\nname:", 1)[0]
    flat = " ".join(line.lstrip("# ") for line in header.splitlines())
    assert "applies everything merged so far" not in flat
    assert "the plan reviewed for ITS pull request with --if-stale reviewed" in flat
    assert '"not in the reviewed plan"' in flat
    assert "the job fails naming it" in flat
    assert "re-run the cancelled merge's workflow" in flat
    run = step_named(load("apply-environment.yml"), "Apply")["run"]
    assert "--if-stale reviewed" in run
