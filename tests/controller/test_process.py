"""`cxrecon reconcile` as a process: signals, exit codes, the audit log across a SIGTERM."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.emulator.config import EmulatorConfig
from reconciler.model import LABEL_APPLIED_DIGEST
from reconciler.testing import RunningEmulator

from .helpers import CANARY, ConnectorsRepo, connector_yaml, remote_connectors, writes_seen

#: How long to wait for a child's line, exit or end of output. Generous on purpose: the
#: waits end on the event itself, and a loaded 2-core machine can take many seconds to start
#: a Python process; only a broken controller ever reaches it.
DEADLINE: Final = 120.0


class Controller:
    """A `cxrecon reconcile` child process whose stderr lines are read on a thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "reconcile", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def wait_for_line(self, needle: str, within: float = DEADLINE) -> str:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if needle in line:
                return line
        raise AssertionError(f"no line with {needle!r}; got:\n{''.join(self.seen)}")

    def finish(self, within: float = DEADLINE) -> int:
        code = self.proc.wait(timeout=within)
        # The reader ends at end of output, right after the exit: wait for that, not for a
        # fixed time that a loaded machine can miss (the tail of stderr would be lost).
        self._reader.join(timeout=within)
        assert not self._reader.is_alive(), "stderr still open after the controller exited"
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        self._close()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=DEADLINE)
        self._close()

    def _close(self) -> None:
        if self.proc.stderr is not None and not self._reader.is_alive():
            self.proc.stderr.close()


Spawn = Callable[[list[str]], Controller]


@pytest.fixture
def spawn(emulator: RunningEmulator) -> Iterator[Spawn]:
    started: list[Controller] = []

    def start(args: list[str]) -> Controller:
        env = {
            **os.environ,
            "CXONE_BASE_URL": emulator.base_url,
            "CXONE_CLIENT_ID": "demo-client",
            "CXONE_CLIENT_SECRET": "demo-secret",
            "CRM_API_KEY": CANARY,
        }
        controller = Controller(args, env)
        started.append(controller)
        return controller

    yield start
    for controller in started:
        controller.kill()


def test_sigterm_mid_cycle_finishes_in_flight_connectors_and_loses_nothing(
    emulator_factory: Callable[..., RunningEmulator], repo: ConnectorsRepo, tmp_path: Path
) -> None:
    slow = emulator_factory(EmulatorConfig(latency_ms=120))
    # Enough work that the signal lands mid-cycle even when this process is slow to react.
    names = [f"Conn-{i:02d}" for i in range(24)]
    repo.commit({f"connectors/{n.lower()}.yaml": connector_yaml(n) for n in names})
    audit = tmp_path / "audit.jsonl"
    env = {
        **os.environ,
        "CXONE_BASE_URL": slow.base_url,
        "CXONE_CLIENT_ID": "demo-client",
        "CXONE_CLIENT_SECRET": "demo-secret",
        "CRM_API_KEY": CANARY,
    }
    args = ["--repo", str(repo.checkout), "--audit-log", str(audit), "--listen", "off"]
    controller = Controller([*args, "--interval", "1h", "--parallelism", "2"], env)
    try:
        _wait_until(lambda: audit.exists() and len(audit.read_text().splitlines()) >= 3)
        controller.proc.send_signal(signal.SIGTERM)
        code = controller.finish()
    finally:
        controller.kill()
    log = "".join(controller.seen)
    assert code == 0, log
    assert "stopping: finishing the connectors in flight" in log
    assert "interrupted by shutdown" in log
    assert "Traceback" not in log

    # The audit log is complete and well-formed: one parseable record per write that happened.
    text = audit.read_text()
    assert text.endswith("\n")
    every = [json.loads(line) for line in text.splitlines()]
    assert all(r["command"] == "reconcile" for r in every)
    # Each write: its intent (on disk before it was sent), then its outcome.
    records = [r for r in every if r["event"] != "intent"]
    assert all(r["result"] == "success" for r in records)
    assert len(records) == writes_seen(slow)
    assert sorted(r["writeId"] for r in every if r["event"] == "intent") == sorted(
        r["writeId"] for r in records
    )
    assert CANARY not in text + log

    # State is consistent: each connector that was started was finished (ACTIVE, stamped).
    remote = remote_connectors(slow)
    assert 0 < len(remote) < len(names) + 1  # Alpha, from the first commit, plus some
    for connector in remote.values():
        assert connector["lifecycleStatus"] == "ACTIVE"
        assert LABEL_APPLIED_DIGEST in connector["labels"]

    # A rerun converges, and the one after it finds nothing to do.
    rerun = Controller([*args, "--once"], env)
    assert rerun.finish() == 0, "".join(rerun.seen)
    assert set(remote_connectors(slow)) == {*names, "Alpha"}
    writes = writes_seen(slow)
    again = Controller([*args, "--once"], env)
    assert again.finish() == 0, "".join(again.seen)
    assert writes_seen(slow) == writes
    outcomes = [json.loads(line) for line in audit.read_text().splitlines()]
    assert len([r for r in outcomes if r["event"] == "outcome"]) == writes


def _wait_until(condition: Callable[[], bool], within: float = DEADLINE) -> None:
    """Until `condition` holds: for a child's files, which give no event to await."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"condition not met within {within:.0f}s"
        time.sleep(0.02)


def test_sighup_starts_a_cycle_at_once_and_endpoints_serve_prometheus_text(
    spawn: Spawn, repo: ConnectorsRepo, tmp_path: Path
) -> None:
    controller = spawn(
        [
            "--repo",
            str(repo.checkout),
            "--audit-log",
            str(tmp_path / "audit.jsonl"),
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "1h",
        ]
    )
    line = controller.wait_for_line("serving /healthz")
    url = line.rsplit(" on ", 1)[1].strip()
    controller.wait_for_line("cycle 1 ")
    controller.proc.send_signal(signal.SIGHUP)
    controller.wait_for_line("cycle 2 ")

    http = httpx.Client(timeout=DEADLINE)
    assert http.get(f"{url}/healthz").text == "ok\n"
    assert http.get(f"{url}/readyz").status_code == 200
    metrics = http.get(f"{url}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
    started = families["cxrecon_reconcile_cycles_started"].samples
    assert [s.value for s in started if s.name.endswith("_total")] == [2.0]
    assert "process_resident_memory_bytes" in families
    status = http.get(f"{url}/status").json()
    http.close()
    assert status["cyclesFinished"] == 2
    assert CANARY not in metrics.text + json.dumps(status)

    controller.proc.send_signal(signal.SIGINT)
    assert controller.finish() == 0


def test_once_exits_2_when_drift_is_only_reported_and_0_when_in_sync(
    spawn: Spawn, repo: ConnectorsRepo, emulator: RunningEmulator, tmp_path: Path
) -> None:
    args = ["--repo", str(repo.checkout), "--listen", "off", "--once"]
    args += ["--audit-log", str(tmp_path / "audit.jsonl")]
    assert spawn(args).finish() == 0
    alpha = remote_connectors(emulator)["Alpha"]["id"]
    emulator.control.edit(alpha, {"description": "edited by hand"})
    reported = spawn(args)
    assert reported.finish() == 2
    assert "Alpha: update (drift) report [description]" in "".join(reported.seen)
    assert spawn([*args, "--self-heal"]).finish() == 0
    assert remote_connectors(emulator)["Alpha"]["description"] == "managed by git"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--interval", "5x"], "--interval '5x' is not a duration"),
        (["--listen", "nowhere"], "--listen 'nowhere' is not HOST:PORT"),
        (["--backoff-cap", "soon"], "--backoff-cap 'soon' is not a duration"),
    ],
)
def test_bad_flags_are_one_line_errors(
    spawn: Spawn, repo: ConnectorsRepo, flags: list[str], message: str
) -> None:
    controller = spawn(["--repo", str(repo.checkout), "--once", *flags])
    assert controller.finish() == 1
    output = "".join(controller.seen)
    assert message in output
    assert "Traceback" not in output


def test_a_repo_that_is_not_a_git_checkout_needs_no_pull(spawn: Spawn, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    (plain / "connectors").mkdir(parents=True)
    (plain / "connectors" / "alpha.yaml").write_text(connector_yaml("Alpha"))
    args = ["--repo", str(plain), "--once", "--listen", "off"]
    args += ["--audit-log", str(tmp_path / "audit.jsonl")]
    refused = spawn(args)
    assert refused.finish() == 1
    assert "--no-pull" in "".join(refused.seen)
    assert spawn([*args, "--no-pull"]).finish() == 0
