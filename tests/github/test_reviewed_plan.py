"""`cxrecon github reviewed-plan` (issue 14): on a merge, the plan reviewed in the pull
request is fetched as the plan of record; anything else leaves the apply to plan afresh."""

from __future__ import annotations

import json

from reconciler.plan.changes import Plan, SafetyVerdict
from reconciler.plan.saved import checksum, document

from .conftest import ActionsJob, assert_no_token

SHA = "0123456789abcdef0123456789abcdef01234567"  # the job's GITHUB_SHA (the merge)
HEAD = "abcdefabcdefabcdefabcdefabcdefabcdefabcd"  # the pull request's last commit
RUNS = f"actions/workflows/plan.yml/runs?event=pull_request&head_sha={HEAD}"


def saved_plan_text(environment: str = "sandbox") -> str:
    verdict = SafetyVerdict(
        over=False, reasons=(), managed=3, modified=1, max_change_fraction=0.5, min_managed=0
    )
    plan = Plan(changes=(), safety=verdict, desired_digest="sha256:x", environment=environment)
    return json.dumps(document(plan))


def merged_pull(number: int = 42) -> dict[str, object]:
    return {
        "number": number,
        "merged_at": "2026-11-30T12:00:00Z",
        "merge_commit_sha": SHA,
        "head": {"sha": HEAD},
    }


def run(number: int, run_id: int, head: str = HEAD) -> dict[str, object]:
    return {"id": run_id, "run_number": number, "run_attempt": 1, "head_sha": head}


def test_the_plan_of_the_merged_pull_requests_last_run_is_fetched(job: ActionsJob) -> None:
    job.use_event("event_push.json", "push")
    job.gh.respond(f"commits/{SHA}/pulls", stdout=[merged_pull()])
    job.gh.respond(RUNS, stdout={"workflow_runs": [run(3, 500), run(4, 700), run(2, 900)]})
    job.gh.respond(
        "run download 700",
        files={"reviewed/plan-sandbox.json": saved_plan_text()},
    )

    done = job.run("reviewed-plan", "-e", "sandbox")

    assert done.returncode == 0, done.stderr
    assert job.outputs() == {"plan-file": "reviewed/plan-sandbox.json", "pull-request": "42"}
    assert "pull request #42 (run 700" in done.stdout
    download = job.gh.calls()[-1].argv
    assert download == [
        "run",
        "download",
        "700",
        "--repo",
        "acme/cx-connectors",
        "--name",
        "cxrecon-plan-sandbox",
        "--dir",
        "reviewed",
    ]
    assert "Applying the plan reviewed in pull request #42" in job.summary()
    assert_no_token(done.stdout, done.stderr, job.summary())


def test_a_push_without_a_merged_pull_request_has_no_reviewed_plan(job: ActionsJob) -> None:
    job.use_event("event_push.json", "push")
    job.gh.respond(f"commits/{SHA}/pulls", stdout=[{**merged_pull(), "merge_commit_sha": HEAD}])

    done = job.run("reviewed-plan", "-e", "sandbox")

    assert done.returncode == 0, done.stderr
    assert job.outputs()["plan-file"] == ""
    assert "safety gate holds" in done.stdout
    assert [c.argv[0] for c in job.gh.calls()] == ["api"]


def test_a_run_by_hand_asks_github_nothing(job: ActionsJob) -> None:
    job.use_event("event_push.json", "workflow_dispatch")

    done = job.run("reviewed-plan", "-e", "production")

    assert done.returncode == 0, done.stderr
    assert job.outputs()["plan-file"] == ""
    assert job.gh.calls() == []


def test_an_artifact_that_cannot_be_downloaded_stops_the_apply(job: ActionsJob) -> None:
    # A merged pull request's plan exists: planning afresh would apply what nobody reviewed.
    job.use_event("event_push.json", "push")
    job.gh.respond(f"commits/{SHA}/pulls", stdout=[merged_pull()])
    job.gh.respond(RUNS, stdout={"workflow_runs": [run(1, 500)]})
    job.gh.respond("run download", stderr="no artifact matches", exit_code=1)

    done = job.run("reviewed-plan", "-e", "sandbox")

    assert done.returncode == 1
    assert "::error::" in done.stdout
    assert "may have expired" in done.stdout
    assert "run the apply workflow by hand" in done.stdout
    assert "plan-file" not in job.outputs()


def test_a_tampered_artifact_stops_the_apply(job: ActionsJob) -> None:
    job.use_event("event_push.json", "push")
    job.gh.respond(f"commits/{SHA}/pulls", stdout=[merged_pull()])
    job.gh.respond(RUNS, stdout={"workflow_runs": [run(1, 500)]})
    tampered = json.loads(saved_plan_text())
    tampered["plan"]["prune"] = True  # the checksum no longer matches
    job.gh.respond("run download", files={"reviewed/plan-sandbox.json": json.dumps(tampered)})

    done = job.run("reviewed-plan", "-e", "sandbox")

    assert done.returncode == 1
    assert "checksum mismatch" in done.stdout


def test_a_plan_for_another_environment_stops_the_apply_and_prints_nothing_raw(
    job: ActionsJob,
) -> None:
    job.use_event("event_push.json", "push")
    job.gh.respond(f"commits/{SHA}/pulls", stdout=[merged_pull()])
    job.gh.respond(RUNS, stdout={"workflow_runs": [run(1, 500)]})
    other = json.loads(saved_plan_text("zz\n::error title=x::FORGED"))
    other["checksum"] = checksum(other)
    job.gh.respond("run download", files={"reviewed/plan-sandbox.json": json.dumps(other)})

    done = job.run("reviewed-plan", "-e", "sandbox")

    assert done.returncode == 1
    assert "for environment zz" in done.stdout
    assert not [line for line in done.stdout.splitlines() if line.startswith("::error title=x")]
    assert "\n::error title=x" not in job.summary()


def test_a_pull_request_without_a_plan_run_plans_afresh_with_a_warning(job: ActionsJob) -> None:
    # e.g. a pull request from a fork: validated only, never planned.
    job.use_event("event_push.json", "push")
    job.gh.respond(f"commits/{SHA}/pulls", stdout=[merged_pull()])
    job.gh.respond(RUNS, stdout={"workflow_runs": []})

    done = job.run("reviewed-plan", "-e", "sandbox")

    assert done.returncode == 0, done.stderr
    assert job.outputs()["plan-file"] == ""
    assert "::warning::" in done.stdout
    assert "safety gate holds" in done.stdout
