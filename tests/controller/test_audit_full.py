"""A controller whose audit log cannot be written (a full disk): no write is sent unrecorded,
the cycle fails and readiness says why, every cycle while it lasts (never "unchanged"); once
there is room again, the next cycle reverts the UI edit with its intent and outcome recorded."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply import audit as audit_module
from reconciler.controller.report import CycleResult
from reconciler.testing import RunningEmulator

from .helpers import ControllerFactory, FakeClock, remote_connectors, writes_seen

pytestmark = pytest.mark.anyio


class FullDisk:
    """The `os` module as seen by the audit log on a full file system: appends fail."""

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    @staticmethod
    def write(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


async def test_a_full_disk_fails_the_cycle_sends_nothing_and_readiness_says_why(
    make_controller: ControllerFactory,
    emulator: RunningEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    controller = make_controller(self_heal=True, clock=clock)
    await controller.cycle()  # creates Alpha
    alpha = remote_connectors(emulator)["Alpha"]
    emulator.control.edit(alpha["id"], {"description": "edited in the UI"})
    before = writes_seen(emulator)
    log = tmp_path / "state" / "audit.jsonl"
    size = log.stat().st_size

    monkeypatch.setattr(audit_module, "os", FullDisk())
    failed = [await controller.cycle(), await controller.cycle()]

    # The second cycle only backs Alpha off (no write tried): still failed, never "unchanged".
    for report in failed:
        assert report.result is CycleResult.FAILED
        assert report.error == (
            f"cannot write the audit log {log}: no space left on the device; free space "
            "(or raise the limit) and run again"
        )
    ready, why = controller.readiness()
    assert not ready
    assert why.startswith("not ready: cycle 3 failed: cannot write the audit log")
    assert writes_seen(emulator) == before  # the revert was never sent
    assert remote_connectors(emulator)["Alpha"]["description"] == "edited in the UI"
    assert log.stat().st_size == size

    monkeypatch.undo()  # room again; Alpha's backoff after its failure runs out
    clock.skip(600)
    healed = await controller.cycle()

    assert healed.result is CycleResult.SUCCESS, healed.error
    assert controller.readiness()[0]
    assert remote_connectors(emulator)["Alpha"]["description"] == "managed by git"
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    update = [r for r in records if r["connector"] == "Alpha" and r["action"] == "update"]
    assert [(r["event"], r["result"]) for r in update] == [
        ("intent", "pending"),
        ("outcome", "success"),
    ]
