"""SIGINT/SIGTERM during a real `cxrecon apply` against a slow emulator: no new write starts,
the writes in flight are answered and recorded (or recorded as unknown), the run says what it
wrote and what it did not and exits 130/143; every connector changed in CXone has an intent
and an outcome in the audit log; a re-run converges with no duplicate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator.config import EmulatorConfig
from reconciler.testing import RunningEmulator

from .helpers import Project, connection_env, connector_doc, remote_connectors

COUNT = 12


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()[: text.count("\n")] if line]


def _start(project: Project, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler",
            "apply",
            "--auto-approve",
            "--parallelism",
            "3",
            *extra,
        ],
        cwd=project.root,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_intents(process: subprocess.Popen[str], log: Path, count: int) -> None:
    deadline = time.monotonic() + 60
    while sum(1 for r in _records(log) if r.get("event") == "intent") < count:
        assert process.poll() is None, "apply finished before it could be interrupted"
        assert time.monotonic() < deadline, "apply made no progress"
        time.sleep(0.005)


def assert_every_change_accounted_for(log: Path, remote: list[dict[str, Any]]) -> None:
    """Each connector in CXone has a create intent, and every intent has an outcome."""
    records = _records(log)
    intents = {r["writeId"]: r for r in records if r.get("event") == "intent"}
    settled = {r["writeId"] for r in records if r.get("event") in ("outcome", "resolution")}
    assert set(intents) <= settled, [intents[w]["connector"] for w in set(intents) - settled]
    created = {r["connector"] for r in intents.values() if r["action"] == "create"}
    assert {c["name"] for c in remote} <= created


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_new_writes_records_those_in_flight_and_says_what_was_written(
    tmp_path: Path,
    emulator_factory: Callable[..., RunningEmulator],
    signum: int,
    code: int,
) -> None:
    emulator = emulator_factory(EmulatorConfig(latency_ms=150, seed=3))
    project = Project(tmp_path / "repo")
    for i in range(COUNT):
        project.write(connector_doc(f"S-{i:02d}"))
    env = connection_env(emulator.base_url)
    process = _start(project, env)
    _wait_for_intents(process, project.audit_log, 4)

    os.kill(process.pid, signum)
    out, err = process.communicate(timeout=60)

    assert process.returncode == code, err[-2000:]
    assert "Traceback" not in err
    name = signal.Signals(signum).name
    assert f"Interrupted by {name}:" in err
    assert "not written" in err
    remote = remote_connectors(emulator.control)
    assert 0 < len(remote) < COUNT, "the signal came too late to stop anything"
    assert_every_change_accounted_for(project.audit_log, remote)
    # No write started after the signal: each connector stopped is "not written".
    assert "not written: the run was interrupted" in out

    finished = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", "--auto-approve"],
        cwd=project.root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    names = sorted(c["name"] for c in remote_connectors(emulator.control))
    assert names == [f"S-{i:02d}" for i in range(COUNT)]  # each once: no duplicate
    assert_every_change_accounted_for(project.audit_log, remote_connectors(emulator.control))


def test_writes_in_flight_past_the_grace_time_are_recorded_as_unknown_then_settled(
    tmp_path: Path, emulator_factory: Callable[..., RunningEmulator]
) -> None:
    # Writes take 0.5 s; the grace time is 0.05 s: those in flight are cancelled unanswered.
    emulator = emulator_factory(EmulatorConfig(latency_ms=500, seed=5))
    project = Project(tmp_path / "repo")
    for i in range(4):
        project.write(connector_doc(f"U-{i}"))
    env = {**connection_env(emulator.base_url), "CXRECON_STOP_GRACE_SECONDS": "0.05"}
    process = _start(project, env)
    _wait_for_intents(process, project.audit_log, 1)

    os.kill(process.pid, signal.SIGTERM)
    _, err = process.communicate(timeout=60)

    assert process.returncode == 143, err[-2000:]
    assert "Traceback" not in err
    assert "whose answer never came" in err
    records = _records(project.audit_log)
    unknown = [r for r in records if r.get("event") == "outcome" and r["result"] == "unknown"]
    assert unknown
    assert all(r["details"]["interrupted"] == "CancelledError" for r in unknown)
    time.sleep(0.6)  # let the emulator finish (or drop) the requests it had taken
    there = {c["name"] for c in remote_connectors(emulator.control)}

    finished = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", "--auto-approve"],
        cwd=project.root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "whose outcome was unknown" in finished.stderr
    records = _records(project.audit_log)
    resolved = {r["writeId"]: r for r in records if r.get("event") == "resolution"}
    assert {r["writeId"] for r in unknown} <= set(resolved)
    # Read back, each resolution says what CXone holds: written where the create landed.
    for write in unknown:
        expected = "success" if write["connector"] in there else "failure"
        assert resolved[write["writeId"]]["result"] == expected, resolved[write["writeId"]]
    names = sorted(c["name"] for c in remote_connectors(emulator.control))
    assert names == [f"U-{i}" for i in range(4)]


def test_a_sigterm_before_any_write_exits_143_having_written_nothing(
    tmp_path: Path, emulator_factory: Callable[..., RunningEmulator]
) -> None:
    emulator = emulator_factory(EmulatorConfig(latency_ms=1000, seed=9))
    project = Project(tmp_path / "repo")
    project.write(connector_doc("Early"))
    process = _start(project, connection_env(emulator.base_url))
    deadline = time.monotonic() + 30
    while not project.audit_log.exists():  # opened just before the run asks for a token
        assert process.poll() is None
        assert time.monotonic() < deadline
        time.sleep(0.005)
    time.sleep(0.3)  # the token request is still on its way (1 s)

    os.kill(process.pid, signal.SIGTERM)
    _, err = process.communicate(timeout=60)

    assert process.returncode == 143, err[-2000:]
    assert "Interrupted by SIGTERM before any write; nothing was written." in err
    assert "Traceback" not in err
    assert remote_connectors(emulator.control) == []
    assert project.audit_log.read_bytes() == b""
