"""`cxrecon github plan-comment` in a simulated pull_request job with a fake `gh`."""

from __future__ import annotations

import os
import shutil

import pytest

from .conftest import ActionsJob, assert_no_token, fixture_text

REPO = "repos/acme/cx-connectors"
STICKY_SANDBOX = 2002


def comment(comment_id: int, body: str = "") -> dict[str, object]:
    return {
        "id": comment_id,
        "body": body,
        "html_url": f"https://github.com/acme/cx-connectors/pull/42#issuecomment-{comment_id}",
    }


def with_comments(job: ActionsJob, *pages: str) -> None:
    """gh --paginate prints one JSON array per page back to back."""
    job.gh.respond("GET", f"{REPO}/issues/42/comments", stdout="".join(pages))
    job.gh.respond("POST", f"{REPO}/issues/42/comments", stdout=comment(5000))
    job.gh.respond("PATCH", f"{REPO}/issues/comments/", stdout=comment(STICKY_SANDBOX))


def test_creates_the_comment_when_the_pull_request_has_none_for_the_environment(
    job: ActionsJob,
) -> None:
    with_comments(job, fixture_text("comments_page_1.json"))
    plan = job.write("plan.md", fixture_text("plan_changes.md"))

    done = job.run(
        "plan-comment", "-e", "sandbox", "--exit-code", "2",
        "--plan-markdown", str(plan), "--artifact", "cxrecon-plan-sandbox",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    (write,) = job.gh.writes()
    assert (write.method, write.endpoint) == ("POST", f"{REPO}/issues/42/comments")
    body = str(write.body()["body"])
    plan_heading, plan_rest = fixture_text("plan_changes.md").split("\n", 1)
    # The plan's own title stays on top, the status right under it, then the plan.
    assert body.startswith(f"<!-- cxrecon-plan:sandbox -->\n\n{plan_heading}\n\n**📝 Changes")
    assert body.count("## cxrecon plan") == 1
    assert plan_rest.strip() in body
    assert "commit `feedfacecafe`" in body  # the PR head, not the merge commit
    assert "https://github.com/acme/cx-connectors/actions/runs/9876543210" in body
    assert "artifact `cxrecon-plan-sandbox`" in body
    assert job.outputs() == {
        "outcome": "changes",
        "comment-id": "5000",
        "comment-url": "https://github.com/acme/cx-connectors/pull/42#issuecomment-5000",
    }
    assert "Created the plan comment for sandbox" in done.stdout


def test_updates_the_existing_sticky_comment_in_place_found_on_a_later_page(
    job: ActionsJob,
) -> None:
    with_comments(job, fixture_text("comments_page_1.json"), fixture_text("comments_page_2.json"))
    plan = job.write("plan.md", fixture_text("plan_changes.md"))

    done = job.run(
        "plan-comment", "-e", "sandbox", "--exit-code", "2", "--plan-markdown", str(plan)
    )

    assert done.returncode == 0, done.stderr
    (write,) = job.gh.writes()
    assert (write.method, write.endpoint) == ("PATCH", f"{REPO}/issues/comments/{STICKY_SANDBOX}")
    assert "(an older plan)" not in str(write.body()["body"])
    listing = job.gh.calls()[0]
    assert "--paginate" in listing.argv
    assert "Updated the plan comment for sandbox" in done.stdout


def test_a_person_quoting_the_sticky_comment_is_never_overwritten(job: ActionsJob) -> None:
    # Page 1 holds a reviewer's comment that quotes the sandbox marker, and production's sticky.
    with_comments(job, fixture_text("comments_page_1.json"))

    done = job.run("plan-comment", "-e", "sandbox", "--exit-code", "0")

    assert done.returncode == 0, done.stderr
    (write,) = job.gh.writes()
    assert write.method == "POST"


def test_each_environment_keeps_its_own_comment(job: ActionsJob) -> None:
    with_comments(job, fixture_text("comments_page_1.json"), fixture_text("comments_page_2.json"))

    done = job.run("plan-comment", "-e", "production", "--exit-code", "0")

    assert done.returncode == 0, done.stderr
    (write,) = job.gh.writes()
    assert write.endpoint == f"{REPO}/issues/comments/1003"
    body = str(write.body()["body"])
    assert body.startswith("<!-- cxrecon-plan:production -->")
    assert "No changes" in body


def test_over_the_safety_gate_fails_the_check_with_a_caution_until_approved(
    job: ActionsJob,
) -> None:
    with_comments(job, "[]")
    job.gh.respond("GET", f"{REPO}/issues/42/labels", stdout=[{"name": "connectors"}])
    plan = job.write("plan.md", fixture_text("plan_over_gate.md"))

    done = job.run(
        "plan-comment", "-e", "production", "--exit-code", "3", "--plan-markdown", str(plan)
    )

    assert done.returncode == 1
    (write,) = job.gh.writes()
    body = str(write.body()["body"])
    assert "> [!CAUTION]" in body
    assert "This plan is over the safety gate" in body
    assert "`cxrecon:approve-over-gate` label" in body
    assert fixture_text("plan_over_gate.md").split("\n", 1)[1].strip() in body
    assert "::error::The production plan is over the safety gate (not approved)." in done.stdout
    assert job.outputs()["outcome"] == "over-gate"


def test_over_the_safety_gate_passes_with_a_warning_once_the_label_is_on_the_pr(
    job: ActionsJob,
) -> None:
    with_comments(job, "[]")
    job.gh.respond(
        "GET", f"{REPO}/issues/42/labels", stdout=[{"name": "cxrecon:approve-over-gate"}]
    )
    plan = job.write("plan.md", fixture_text("plan_over_gate.md"))

    done = job.run(
        "plan-comment", "-e", "production", "--exit-code", "3", "--plan-markdown", str(plan)
    )

    assert done.returncode == 0, done.stderr
    body = str(job.gh.writes()[0].body()["body"])
    assert "> [!WARNING]" in body
    assert "[!CAUTION]" not in body
    assert "::warning::The production plan is over the safety gate (approved" in done.stdout


def test_a_plan_without_a_title_gets_one(job: ActionsJob) -> None:
    with_comments(job, "[]")
    plan = job.write("plan.md", "Plan: 1 to create.\n")

    done = job.run(
        "plan-comment", "-e", "sandbox", "--exit-code", "2", "--plan-markdown", str(plan)
    )

    assert done.returncode == 0, done.stderr
    body = str(job.gh.writes()[0].body()["body"])
    assert body.startswith("<!-- cxrecon-plan:sandbox -->\n\n## cxrecon plan — sandbox\n")
    assert "Plan: 1 to create." in body


def test_labels_are_only_read_when_the_plan_is_over_the_gate(job: ActionsJob) -> None:
    with_comments(job, "[]")

    done = job.run("plan-comment", "-e", "sandbox", "--exit-code", "2")

    assert done.returncode == 0, done.stderr
    assert not [call for call in job.gh.calls() if "labels" in " ".join(call.argv)]


@pytest.mark.parametrize("exit_code", ["1", "137"])
def test_a_failed_plan_replaces_the_stale_plan_and_fails_the_job(
    job: ActionsJob, exit_code: str
) -> None:
    with_comments(job, fixture_text("comments_page_2.json"))
    partial = job.write("plan.md", "| connector | action |\n|---|---|\n| `half-rendered` |")

    done = job.run(
        "plan-comment", "-e", "sandbox", "--exit-code", exit_code,
        "--plan-markdown", str(partial), "--artifact", "cxrecon-plan-sandbox",
    )  # fmt: skip

    assert done.returncode == 1
    (write,) = job.gh.writes()
    assert write.method == "PATCH"
    body = str(write.body()["body"])
    assert "The plan failed" in body
    assert "## cxrecon plan — sandbox" in body
    assert "half-rendered" not in body
    assert "artifact" not in body
    assert f"::error::cxrecon plan failed for sandbox (exit code {exit_code})." in done.stdout
    assert job.outputs()["outcome"] == "error"


def test_a_plan_too_long_for_a_comment_points_to_the_artifact_instead_of_breaking(
    job: ActionsJob,
) -> None:
    with_comments(job, "[]")
    row = "| `connector-{0:05d}` | update | `config.batchSize` 100 → 200 |\n"
    huge = job.write("plan.md", "".join(row.format(i) for i in range(2000)))

    done = job.run(
        "plan-comment", "-e", "sandbox", "--exit-code", "2",
        "--plan-markdown", str(huge), "--artifact", "cxrecon-plan-sandbox",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    body = str(job.gh.writes()[0].body()["body"])
    assert len(body) <= 65_536
    assert "over GitHub's comment limit" in body
    assert "artifact `cxrecon-plan-sandbox`" in body
    assert "connector-00000" not in body


def test_a_missing_permission_is_explained_without_a_traceback_or_the_token(
    job: ActionsJob,
) -> None:
    job.gh.respond("GET", f"{REPO}/issues/42/comments", stdout="[]")
    job.gh.respond(
        "POST",
        f"{REPO}/issues/42/comments",
        stdout='{"message":"Resource not accessible by integration"}',
        # gh never prints the token; if it ever did, cxrecon must not pass it on.
        stderr=f"gh: Resource not accessible (HTTP 403) token={job.env['GH_TOKEN']}\n",
        exit_code=1,
    )

    done = job.run("plan-comment", "-e", "sandbox", "--exit-code", "2")

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stdout.startswith("::error::plan comment for sandbox: POST ")
    assert "pull-requests: write" in done.stdout
    assert_no_token(done.stdout, done.stderr)


def test_outside_a_pull_request_event_it_says_what_to_do(job: ActionsJob) -> None:
    job.use_event("event_push.json", "push")

    done = job.run("plan-comment", "-e", "sandbox", "--exit-code", "2")

    assert done.returncode == 1
    assert "the push event has no pull request" in done.stdout
    assert "workflows triggered by pull_request" in done.stdout
    assert job.gh.calls() == []


def test_without_gh_on_path_it_says_how_to_get_it(job: ActionsJob) -> None:
    without_fake = job.env["PATH"].split(os.pathsep, 1)[1]
    if shutil.which("gh", path=without_fake):
        pytest.skip("a real gh is installed on this machine")
    job.env["PATH"] = without_fake

    done = job.run("plan-comment", "-e", "sandbox", "--exit-code", "0")

    assert done.returncode == 1
    assert "the `gh` CLI is not on PATH" in done.stdout


def test_an_environment_name_that_could_break_the_marker_is_refused(job: ActionsJob) -> None:
    done = job.run("plan-comment", "-e", "prod -->", "--exit-code", "0")

    assert done.returncode == 2
    assert "is not an environment name" in done.stderr
    assert job.gh.calls() == []


def test_by_hand_outside_actions_errors_are_plain_lines(job: ActionsJob) -> None:
    del job.env["GITHUB_ACTIONS"]
    del job.env["GITHUB_REPOSITORY"]

    done = job.run("plan-comment", "-e", "sandbox", "--exit-code", "0")

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("error: plan comment for sandbox: GITHUB_REPOSITORY is not set")
