"""`cxrecon github apply-summary` in a simulated push-to-main job."""

from __future__ import annotations

import shutil

from .conftest import FIXTURES, ActionsJob


def test_a_successful_apply_is_summarised_with_its_audit_records(job: ActionsJob) -> None:
    job.use_event("event_push.json", "push")
    audit = job.workdir / "audit-production.jsonl"
    shutil.copy(FIXTURES / "audit.jsonl", audit)

    done = job.run(
        "apply-summary", "-e", "production", "--exit-code", "0",
        "--audit-log", str(audit), "--artifact", "cxrecon-apply-production",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    summary = job.summary()
    assert "### cxrecon apply · `production`" in summary
    assert "✅ Applied to `production`." in summary
    assert "- commit `0123456789ab`" in summary
    assert "- audit log: 3 records (artifact `cxrecon-apply-production`)" in summary
    assert job.outputs() == {"outcome": "applied", "audit-records": "3"}
    assert job.gh.calls() == []


def test_a_failed_apply_fails_the_job_and_says_it_converges_on_a_rerun(job: ActionsJob) -> None:
    job.use_event("event_push.json", "push")

    done = job.run("apply-summary", "-e", "sandbox", "--exit-code", "1", "--audit-log", "none")

    assert done.returncode == 1
    assert "❌ Apply to `sandbox` failed (exit code 1)" in job.summary()
    assert "running the workflow again converges" in job.summary()
    assert "audit log" not in job.summary()
    assert done.stdout.count("::error::") == 1
    assert job.outputs()["outcome"] == "failed"


def test_the_summary_counts_what_happened_not_the_intents_before_each_write(
    job: ActionsJob,
) -> None:
    # The write-ahead log writes an intent before each write and the outcome after it; a
    # crash can leave a torn last line. Three writes are three records, not six or seven.
    job.use_event("event_push.json", "push")
    audit = job.workdir / "audit-production.jsonl"
    lines = []
    for n in range(3):
        lines.append(f'{{"v": 2, "event": "intent", "writeId": "r-w{n}", "result": "pending"}}')
        lines.append(f'{{"v": 2, "event": "outcome", "writeId": "r-w{n}", "result": "success"}}')
    audit.write_text("\n".join(lines) + '\n{"v": 2, "event": "outc', encoding="utf-8")

    done = job.run(
        "apply-summary", "-e", "production", "--exit-code", "0", "--audit-log", str(audit)
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "- audit log: 3 records" in job.summary()
    assert job.outputs()["audit-records"] == "3"
