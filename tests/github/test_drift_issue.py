"""`cxrecon github drift-issue` in a simulated scheduled job with a fake `gh`."""

from __future__ import annotations

from .conftest import ActionsJob, fixture_text

REPO = "repos/acme/cx-connectors"


def issue(number: int) -> dict[str, object]:
    return {
        "number": number,
        "title": "t",
        "body": "b",
        "html_url": f"https://github.com/acme/cx-connectors/issues/{number}",
    }


def scheduled(job: ActionsJob, open_issues: str) -> None:
    job.use_event("event_schedule.json", "schedule")
    job.gh.respond("GET", f"{REPO}/issues?state=open&labels=cxrecon-drift", stdout=open_issues)
    job.gh.respond("label", "create", "cxrecon-drift")
    job.gh.respond("POST", f"{REPO}/issues/", "/comments", stdout={"id": 1, "html_url": "u"})
    job.gh.respond("POST", f"{REPO}/issues", stdout=issue(40))
    job.gh.respond("PATCH", f"{REPO}/issues/12", stdout=issue(12))


def test_drift_opens_one_labelled_issue_when_none_is_open(job: ActionsJob) -> None:
    scheduled(job, fixture_text("issues_open_other_env.json"))
    drift = job.write("drift.md", fixture_text("drift.md"))

    done = job.run(
        "drift-issue", "-e", "production", "--exit-code", "2", "--drift-markdown", str(drift)
    )

    assert done.returncode == 0, done.stderr
    label, create = job.gh.writes()
    assert label.argv[:3] == ["label", "create", "cxrecon-drift"]
    assert "--force" in label.argv
    assert (create.method, create.endpoint) == ("POST", f"{REPO}/issues")
    payload = create.body()
    assert payload["title"] == "Drift in production: CXone connectors changed outside git"
    assert payload["labels"] == ["cxrecon-drift"]
    body = str(payload["body"])
    assert body.startswith("<!-- cxrecon-drift:production -->\n")
    assert fixture_text("drift.md").strip() in body
    assert "actions/runs/9876543210" in body
    assert job.outputs() == {
        "outcome": "drift",
        "issue-action": "opened",
        "issue-number": "40",
        "issue-url": "https://github.com/acme/cx-connectors/issues/40",
    }
    assert "::warning::Drift in production: https://github.com/acme/cx-connectors/issues/40" in (
        done.stdout
    )
    assert "has drifted from git (#40, opened)" in job.summary()


def test_persisting_drift_updates_the_open_issue_instead_of_opening_another(
    job: ActionsJob,
) -> None:
    # The listing also holds a pull request quoting the marker and sandbox's issue.
    scheduled(job, fixture_text("issues_open.json"))
    drift = job.write("drift.md", fixture_text("drift.md"))

    done = job.run(
        "drift-issue", "-e", "production", "--exit-code", "2", "--drift-markdown", str(drift)
    )

    assert done.returncode == 0, done.stderr
    (update,) = job.gh.writes()
    assert (update.method, update.endpoint) == ("PATCH", f"{REPO}/issues/12")
    body = str(update.body()["body"])
    assert "(an older report)" not in body
    assert "`config.batchSize`" in body
    assert "state" not in update.body()
    assert job.outputs()["issue-action"] == "updated"


def test_a_clean_check_comments_on_and_closes_the_open_issue(job: ActionsJob) -> None:
    scheduled(job, fixture_text("issues_open.json"))

    done = job.run("drift-issue", "-e", "production", "--exit-code", "0")

    assert done.returncode == 0, done.stderr
    note, close = job.gh.writes()
    assert (note.method, note.endpoint) == ("POST", f"{REPO}/issues/12/comments")
    assert "`production` is back in sync with git" in str(note.body()["body"])
    assert (close.method, close.endpoint) == ("PATCH", f"{REPO}/issues/12")
    assert close.body() == {"state": "closed", "state_reason": "completed"}
    assert job.outputs()["issue-action"] == "closed"
    assert "is in sync with git (#12, closed)" in job.summary()


def test_a_clean_check_with_no_open_issue_changes_nothing(job: ActionsJob) -> None:
    scheduled(job, fixture_text("issues_open_other_env.json"))

    done = job.run("drift-issue", "-e", "production", "--exit-code", "0")

    assert done.returncode == 0, done.stderr
    assert job.gh.writes() == []
    assert job.outputs() == {
        "outcome": "in-sync",
        "issue-action": "none",
        "issue-number": "",
        "issue-url": "",
    }


def test_a_failed_drift_check_leaves_the_issue_alone_and_fails_the_job(job: ActionsJob) -> None:
    scheduled(job, fixture_text("issues_open.json"))

    done = job.run("drift-issue", "-e", "production", "--exit-code", "1")

    assert done.returncode == 1
    assert job.gh.calls() == []
    assert "::error::the drift check failed for production (exit code 1)" in done.stdout
    assert job.outputs()["outcome"] == "error"


def test_a_drift_report_too_long_for_an_issue_is_replaced_by_a_pointer(job: ActionsJob) -> None:
    scheduled(job, "[]")
    drift = job.write("drift.md", "| `c` | `f` | `a` | `b` |\n" * 5000)

    done = job.run(
        "drift-issue", "-e", "production", "--exit-code", "2", "--drift-markdown", str(drift)
    )

    assert done.returncode == 0, done.stderr
    body = str(job.gh.writes()[1].body()["body"])
    assert len(body) <= 65_536
    assert "run `cxrecon drift -e production` to see all of it" in body


def test_the_label_can_be_chosen(job: ActionsJob) -> None:
    job.use_event("event_schedule.json", "schedule")
    job.gh.respond("GET", "labels=ops%3Adrift", stdout="[]")
    job.gh.respond("label", "create", "ops:drift")
    job.gh.respond("POST", f"{REPO}/issues", stdout=issue(41))

    done = job.run("drift-issue", "-e", "sandbox", "--exit-code", "2", "--label", "ops:drift")

    assert done.returncode == 0, done.stderr
    assert job.gh.writes()[1].body()["labels"] == ["ops:drift"]
