"""Apply on a real terminal asks before writing; an interrupt (Ctrl-C, SIGTERM) unwinds with
the audit log flushed. Runs `python -m reconciler` in a subprocess on a pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from reconciler.emulator.config import EmulatorConfig
from reconciler.testing import RunningEmulator

from .helpers import Project, connection_env, connector_doc, remote_connectors, write_count


def apply_on_a_terminal(project: Project, env: dict[str, str], answer: bytes) -> tuple[int, str]:
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply"],
        cwd=project.root,
        env={**os.environ, **env},
        stdin=secondary,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    os.close(secondary)
    try:
        os.write(primary, answer)  # the terminal buffers it until the prompt reads
        output, _ = process.communicate(timeout=60)
    finally:
        os.close(primary)
    return process.returncode, output


@pytest.mark.parametrize(("answer", "code", "created"), [(b"y\n", 0, 1), (b"n\n", 1, 0)])
def test_on_a_terminal_apply_asks_first(
    project: Project, emulator: RunningEmulator, answer: bytes, code: int, created: int
) -> None:
    project.write(connector_doc("Alpha"))

    returncode, output = apply_on_a_terminal(project, connection_env(emulator.base_url), answer)

    assert returncode == code, output
    assert "Apply these changes?" in output
    assert len(remote_connectors(emulator.control)) == created
    if not created:
        assert "cancelled; nothing was written" in output
        assert write_count(emulator.control) == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_apply_exits_130_or_143_with_a_complete_audit_log(
    project: Project, emulator_factory: Callable[..., RunningEmulator], signum: int
) -> None:
    emulator = emulator_factory(EmulatorConfig(latency_ms=40))
    for i in range(30):
        project.write(connector_doc(f"I-{i:02d}"))
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", "--auto-approve", "--parallelism", "2"],
        cwd=project.root,
        env={**os.environ, **connection_env(emulator.base_url)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(project.audit_records()) < 4:
        assert process.poll() is None
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)

    # 130 for SIGINT, 143 for SIGTERM, as a shell reports a process its signal ended.
    assert process.returncode == 128 + signum, stderr
    assert f"Interrupted by {signal.Signals(signum).name}:" in stderr
    assert "Traceback" not in stderr, stderr
    text = project.audit_log.read_text(encoding="utf-8")
    assert text.endswith("\n")
    records = [json.loads(line) for line in text.splitlines()]
    assert len(records) >= 4
