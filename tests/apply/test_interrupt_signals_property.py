"""The write-ahead property with real signals to a real `cxrecon apply` process: SIGTERM, SIGINT
or SIGKILL at seeded points of a run (after the k-th intent, plus a few milliseconds), then
every connector changed in CXone has an intent, every intent an outcome once a re-run settled
what the stopped run could not, the settlement says what CXone holds, and the re-run converges
with no duplicate. tests/apply/test_interrupt_property.py interrupts at every request, in process.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import pytest

from reconciler.emulator.config import EmulatorConfig
from reconciler.testing import RunningEmulator

from .helpers import Project, connection_env, connector_doc, remote_connectors
from .test_interrupt import _records, _start

#: Six connectors, each a create and an activation: 12 writes.
NAMES: Final = tuple(f"Q-{i}" for i in range(6))
WRITES: Final = 2 * len(NAMES)

_RANDOM = random.Random(23)
#: (signal, stop after this many intents, then this many ms): seeded, spread over the run.
POINTS: Final = [
    (signum, k, _RANDOM.randint(0, 40))
    for signum, k in [
        (signal.SIGTERM, 1),
        (signal.SIGINT, 4),
        (signal.SIGTERM, 7),
        (signal.SIGKILL, 2),
        (signal.SIGKILL, 9),
        (signal.SIGTERM, WRITES),  # at the last write, or once the run is over
    ]
]
EXIT: Final[dict[int, int]] = {
    signal.SIGTERM: 143,
    signal.SIGINT: 130,
    signal.SIGKILL: -signal.SIGKILL,
}


def _intents(log: Path) -> int:
    return sum(1 for r in _records(log) if r.get("event") == "intent")


def _stop_after(process: subprocess.Popen[str], log: Path, k: int, delay_ms: int) -> None:
    deadline = time.monotonic() + 60
    while _intents(log) < k and process.poll() is None:
        assert time.monotonic() < deadline, "apply made no progress"
        time.sleep(0.002)
    time.sleep(delay_ms / 1000)


def _apply(project: Project, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", "--auto-approve"],
        cwd=project.root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _accounted_for(log: Path, remote: list[dict[str, Any]], *, settled: bool) -> None:
    """Each connector in CXone has its create's intent (and its activation's, when ACTIVE);
    with `settled`, every intent has an outcome or a resolution."""
    records = _records(log)
    intents = {r["writeId"]: r for r in records if r.get("event") == "intent"}
    answered = {r["writeId"] for r in records if r.get("event") in ("outcome", "resolution")}
    if settled:
        open_ = [intents[w]["connector"] for w in set(intents) - answered]
        assert not open_, f"intents without an outcome: {open_}"
    done = {(r["connector"], r["action"]) for r in intents.values()}
    for connector in remote:
        assert (connector["name"], "create") in done, connector["name"]
        if connector["lifecycleStatus"] == "ACTIVE":
            assert (connector["name"], "activate") in done, connector["name"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("signum", "k", "delay_ms"),
    POINTS,
    ids=[f"{signal.Signals(s).name}-after-{k}-intents+{d}ms" for s, k, d in POINTS],
)
def test_a_signal_at_any_point_leaves_every_change_accounted_for_and_a_rerun_converges(
    tmp_path: Path,
    emulator_factory: Callable[..., RunningEmulator],
    signum: int,
    k: int,
    delay_ms: int,
) -> None:
    emulator = emulator_factory(EmulatorConfig(latency_ms=40, jitter_ms=30, seed=k))
    project = Project(tmp_path / "repo")
    for name in NAMES:
        project.write(connector_doc(name))
    env = connection_env(emulator.base_url)
    process = _start(project, env)
    _stop_after(process, project.audit_log, k, delay_ms)

    os.kill(process.pid, signum)
    _, err = process.communicate(timeout=60)

    assert "Traceback" not in err
    assert process.returncode in (0, EXIT[signum]), err[-2000:]
    stopped = remote_connectors(emulator.control)
    # A signal handled by cxrecon leaves nothing open; SIGKILL may leave the last intents
    # without outcomes (their writer is gone): the re-run settles those.
    _accounted_for(project.audit_log, stopped, settled=signum != signal.SIGKILL)
    there = {c["name"] for c in stopped}
    records = _records(project.audit_log)
    answered = {r["writeId"] for r in records if r.get("event") != "intent"}
    open_before = {
        r["writeId"] for r in records if r.get("event") == "intent" and r["writeId"] not in answered
    }

    rerun = _apply(project, env)

    assert rerun.returncode == 0, rerun.stderr[-2000:]
    after = remote_connectors(emulator.control)
    assert sorted(c["name"] for c in after) == list(NAMES)  # each once: no duplicate
    assert {c["lifecycleStatus"] for c in after} == {"ACTIVE"}  # converged
    _accounted_for(project.audit_log, after, settled=True)
    records = _records(project.audit_log)
    resolved = {r["writeId"]: r for r in records if r.get("event") == "resolution"}
    unknown = {
        r["writeId"]: r for r in records if r.get("event") == "outcome" and r["result"] == "unknown"
    }
    intents = {r["writeId"]: r for r in records if r.get("event") == "intent"}
    for write_id in set(unknown) | open_before:
        assert write_id in resolved, intents[write_id]
        if intents[write_id]["action"] == "create":  # settled as CXone had it
            expected = "success" if intents[write_id]["connector"] in there else "failure"
            assert resolved[write_id]["result"] == expected, (intents[write_id], resolved)
