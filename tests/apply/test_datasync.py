"""CRM data syncs: trigger after apply and with `cxrecon sync`, poll with full jitter, report
FAILED syncs with the server's errorDetails."""

from __future__ import annotations

import io
import os
import pty
import random
import subprocess
import sys

import pytest

from reconciler.apply.datasync import PollPolicy, SyncOutcome, SyncTarget
from reconciler.model import SyncJob
from reconciler.render.progress import SyncProgress
from reconciler.testing import RunningEmulator

from .helpers import Project, connector_doc, run_cli

FAIL_LABELS = {
    "team": "tests",
    "emulator/sync-outcome": "FAILED",
    "emulator/sync-error": "crm-login-rejected",
}


def test_full_jitter_delays_stay_under_the_exponential_envelope() -> None:
    policy = PollPolicy(base_seconds=0.5, cap_seconds=4.0, max_attempts=8, timeout_seconds=60)
    runs = [list(policy.delays(random.Random(seed))) for seed in range(200)]
    assert all(len(delays) == 7 for delays in runs)  # one fewer sleep than reads
    for attempt in range(7):
        envelope = min(4.0, 0.5 * 2**attempt)
        column = [delays[attempt] for delays in runs]
        assert all(0.0 <= d <= envelope for d in column)
        # Full jitter spreads pollers over the whole interval instead of bunching them.
        assert min(column) < envelope * 0.1
        assert max(column) > envelope * 0.9


def test_poll_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="base_seconds"):
        PollPolicy(base_seconds=5, cap_seconds=1)
    with pytest.raises(ValueError, match="max_attempts"):
        PollPolicy(max_attempts=0)


def test_progress_in_ci_is_plain_lines_per_state_change() -> None:
    out = io.StringIO()
    progress = SyncProgress(out, tty=False, total=1)
    target = SyncTarget("Alpha", "c1")
    progress.started(target, "s1")
    for status in ("PENDING", "RUNNING", "RUNNING"):
        progress.polled(target, SyncJob("s1", "c1", status))
    progress.finished(SyncOutcome(target, "COMPLETED", "s1", records_processed=1200, polls=4))
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "sync Alpha: started (sync s1)"
    assert lines[1:3] == ["sync Alpha: RUNNING (0 records)", lines[2]]
    assert "COMPLETED, 1,200 records" in lines[-1]
    assert "\r" not in out.getvalue()


def test_progress_on_a_terminal_redraws_one_line() -> None:
    out = io.StringIO()
    progress = SyncProgress(out, tty=True, total=2)
    target = SyncTarget("Alpha", "c1")
    progress.started(target, "s1")
    progress.finished(SyncOutcome(target, "FAILED", "s1", error_details="boom"))
    progress.close()
    text = out.getvalue()
    assert text.count("\n") == 1
    assert "\r\x1b[2K" in text
    assert "1/2 done, 1 failed" in text


def test_a_transient_bar_is_erased_once_every_sync_has_finished() -> None:
    out = io.StringIO()
    progress = SyncProgress(out, tty=True, total=2, transient=True)
    alpha, beta = SyncTarget("Alpha", "c1"), SyncTarget("Beta", "c2")
    progress.started(alpha, "s1")
    progress.started(beta, "s2")
    progress.finished(SyncOutcome(alpha, "COMPLETED", "s1"))
    assert out.getvalue().endswith("1/2 done · Alpha COMPLETED")  # still drawn: Beta runs
    progress.polled(beta, SyncJob("s2", "c2", "COMPLETED", records_processed=5))
    progress.finished(SyncOutcome(beta, "COMPLETED", "s2", records_processed=5))
    progress.close()
    # What stays on screen is what follows the last erase: nothing; the caller prints results.
    assert out.getvalue().endswith("\r\x1b[2K")
    assert "\n" not in out.getvalue()


def test_sync_command_on_a_terminal_shows_the_result_once(
    project: Project, emulator: RunningEmulator
) -> None:
    project.write(connector_doc("Good"))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0

    primary, secondary = pty.openpty()  # stderr is a terminal, stdout a pipe
    try:
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", "sync", "Good", "--poll-base", "0.02"],
            stdout=subprocess.PIPE,
            stderr=secondary,
            text=True,
            timeout=120,
            check=False,
        )
        os.close(secondary)
        terminal = _read_all(primary)
    finally:
        os.close(primary)

    assert done.returncode == 0, done.stdout + terminal
    assert [line for line in done.stdout.splitlines() if "COMPLETED" in line] == [
        next(line for line in done.stdout.splitlines() if line.startswith("sync Good (sync "))
    ]
    assert "syncing [" in terminal  # the bar was shown while polling …
    assert terminal.endswith("\r\x1b[2K")  # … and erased, not left as a second result
    assert "\n" not in terminal


def _read_all(fd: int) -> str:
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the writer side is closed and everything was read
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_apply_with_sync_runs_syncs_on_changed_active_connectors_and_reports_failures(
    project: Project, emulator: RunningEmulator
) -> None:
    project.write(connector_doc("Good"))
    project.write(connector_doc("Bad", labels=FAIL_LABELS))
    project.write(connector_doc("Parked", lifecycleStatus="INACTIVE"))

    result = run_cli(["apply", "--auto-approve", "--sync", "--poll-base", "0.02"])

    assert result.exit_code == 1
    assert "3 applied, 0 failed" in result.output
    assert "CRM data syncs: 1 of 2 completed." in result.output
    assert "Bad (sync " in result.output
    assert "FAILED: crm-login-rejected" in result.output
    syncs = [r for r in project.audit_records() if r["action"] == "sync"]
    assert sorted((r["connector"], r["result"]) for r in syncs) == [
        ("Bad", "failure"),
        ("Good", "success"),
    ]
    bad = next(r for r in syncs if r["connector"] == "Bad")
    assert bad["error"]["message"] == "crm-login-rejected"
    assert bad["details"]["status"] == "FAILED"


def test_sync_command_waits_for_completion(project: Project, emulator: RunningEmulator) -> None:
    project.write(connector_doc("Good"))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0

    result = run_cli(["sync", "Good", "--type", "FULL", "--poll-base", "0.02"])

    assert result.exit_code == 0, result.output
    assert "COMPLETED" in result.output
    assert "records" in result.output


def test_a_sync_started_without_waiting_is_followed_by_its_id_not_restarted(
    project: Project, emulator: RunningEmulator
) -> None:
    project.write(connector_doc("Good"))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0

    started = run_cli(["sync", "Good", "--no-wait"])

    assert started.exit_code == 0, started.output
    follow = started.output.split("`")[1]
    assert follow.startswith("cxrecon sync Good --id ")
    assert "--wait" not in started.output
    followed = run_cli([*follow.split()[1:], "--poll-base", "0.02"])
    assert followed.exit_code == 0, followed.output
    assert "COMPLETED" in followed.output
    syncs = [r for r in project.audit_records() if r["action"] == "sync"]
    assert len(syncs) == 1  # following it started nothing


def test_sync_command_exits_1_with_the_error_details_of_a_failed_sync(
    project: Project, emulator: RunningEmulator
) -> None:
    project.write(connector_doc("Bad", labels=FAIL_LABELS))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0

    result = run_cli(["sync", "Bad", "--poll-base", "0.02"])

    assert result.exit_code == 1
    assert "FAILED: crm-login-rejected" in result.output


def test_sync_command_gives_up_when_the_poll_budget_is_spent(
    project: Project, emulator: RunningEmulator
) -> None:
    project.write(connector_doc("Slow"))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    emulator.control.faults(syncStepSeconds=60)  # the emulator moves one step per poll

    result = run_cli(["sync", "Slow", "--poll-base", "0.02", "--poll-attempts", "1"])

    assert result.exit_code == 1
    assert "still running after" in result.output


def test_sync_command_refuses_a_connector_that_is_not_active(
    project: Project, emulator: RunningEmulator
) -> None:
    project.write(connector_doc("Parked", lifecycleStatus="INACTIVE"))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0

    result = run_cli(["sync", "Parked"])

    assert result.exit_code == 1
    assert "INACTIVE" in result.output
    assert "lifecycleStatus: ACTIVE" in result.output


def test_sync_command_names_an_unknown_connector(project: Project) -> None:
    result = run_cli(["sync", "Nope"])

    assert result.exit_code == 1
    assert "no connector named 'Nope'" in result.output
