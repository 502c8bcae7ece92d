"""A destination that accepts the connection and never answers costs `cxrecon drift` at most
its 10 seconds, one warning by name, and nothing else: the same report and exit code."""

from __future__ import annotations

import time
from pathlib import Path

from reconciler.testing import RunningEmulator

from .conftest import URL_CANARY, Receiver, Run, add_notifications, ids


def test_a_hanging_destination_costs_drift_ten_seconds_at_most(
    project: Path, receiver: Receiver, run: Run, emulator: RunningEmulator
) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    emulator.control.edit(ids(emulator)["Support-Desk"], {"description": "edited"})
    quiet = run("drift")
    receiver.mode = "hang"
    add_notifications(
        project,
        f"notifications:\n  - name: slow-hook\n    url: {receiver.url()}\n    events: [drift]\n",
    )

    started = time.monotonic()
    result = run("drift")
    elapsed = time.monotonic() - started

    assert receiver.got.is_set()  # it was reached, and held the request
    assert 10 <= elapsed < 10 + 5, elapsed
    assert result.exit_code == quiet.exit_code == 2
    assert result.stdout == quiet.stdout
    assert result.stderr.count("warning: notification 'slow-hook' (drift)") == 1
    assert "no answer within 10 s" in result.stderr
    assert URL_CANARY not in result.output
