"""A `kill -9` at a random (seeded) moment during apply leaves a tenant that the next apply
converges, with no duplicate and an audit log whose every line still parses."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.emulator.config import EmulatorConfig
from reconciler.testing import RunningEmulator

from .helpers import (
    Project,
    connection_env,
    connector_doc,
    remote_connectors,
    run_cli,
    write_count,
)

COUNT = 40


@pytest.mark.parametrize("seed", [7, 1234])
def test_apply_killed_mid_run_then_rerun_converges_without_duplicates(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator_factory: Callable[..., RunningEmulator],
    seed: int,
) -> None:
    # Some latency so the run lasts long enough to be interrupted between writes.
    emulator = emulator_factory(EmulatorConfig(latency_ms=15, jitter_ms=10, seed=seed))
    project = Project(tmp_path / "repo")
    project.connectors.mkdir(parents=True)
    monkeypatch.chdir(project.root)
    env = connection_env(emulator.base_url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    desired = {f"K-{i:02d}": connector_doc(f"K-{i:02d}") for i in range(COUNT)}
    for doc in desired.values():
        project.write(doc)
    # Outcome records written (the write-ahead log also writes an intent before each write:
    # counting those too would move every kill point to half as many writes).
    kill_after = random.Random(seed).randint(3, 2 * COUNT - 10)

    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", "--auto-approve", "--parallelism", "4"],
        cwd=project.root,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    try:
        while _outcomes(project.audit_log) < kill_after:
            assert process.poll() is None, "apply finished before it could be killed"
            assert time.monotonic() < deadline, "apply made no progress"
            time.sleep(0.002)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    before = remote_connectors(emulator.control)
    drafts = [c for c in before if c["lifecycleStatus"] == "DRAFT"]
    assert len(before) > 0
    assert len(before) < COUNT or drafts, "the kill came too late to interrupt anything"

    rerun = run_cli(["apply", "--auto-approve"])

    assert rerun.exit_code == 0, rerun.output[-3000:]
    remote = remote_connectors(emulator.control)
    names = [c["name"] for c in remote]
    assert sorted(names) == sorted(desired)  # every connector once, no duplicate
    assert {c["lifecycleStatus"] for c in remote} == {"ACTIVE"}
    for line in _complete_lines(project.audit_log):
        json.loads(line)
    writes = write_count(emulator.control)
    assert "No changes" in run_cli(["apply", "--auto-approve"]).output
    assert write_count(emulator.control) == writes


def _outcomes(path: Path) -> int:
    return sum(json.loads(line).get("event") != "intent" for line in _complete_lines(path))


def _complete_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    return text.splitlines()[: text.count("\n")]
