"""A load is checked in the process that asks for it: `CXRECON_LOAD_WORKERS` (which started
helper processes before issue 25) is accepted and changes nothing, no process is started,
and Ctrl-C stops a large `cxrecon validate` with exit 130, no traceback, nothing left."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.load.desired import RETIRED_SETTING, read_desired

from .inputs import FIXTURES

needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """Every good and bad fixture ten times over (names repeat: duplicate-name errors too)."""
    folder = tmp_path / "connectors"
    folder.mkdir()
    for round_ in range(10):
        for kind in ("good", "bad"):
            for source in sorted((FIXTURES / kind).glob("*.yaml")):
                shutil.copyfile(source, folder / f"{round_}-{kind}-{source.name}")
    return folder


def test_the_retired_setting_changes_nothing(
    repository: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(RETIRED_SETTING, raising=False)
    expected = read_desired(repository)
    assert expected.errors  # the bad fixtures' diagnostics, and the good ones' connectors
    assert expected.connectors
    for setting in ("4", "lots"):  # helpers asked for; a value it never understood
        monkeypatch.setenv(RETIRED_SETTING, setting)
        assert read_desired(repository) == expected


@needs_proc
def test_a_load_starts_no_process(repository: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RETIRED_SETTING, "4")  # it asked for four helpers once
    seen: set[int] = set()
    loading = threading.Event()
    earlier = set(_children(os.getpid()))  # anything an earlier test left is not this load's

    def watch() -> None:
        while not loading.is_set():
            seen.update(set(_children(os.getpid())) - earlier)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = read_desired(repository)
    finally:
        loading.set()
        watcher.join()
    assert result.parsed == len(result.files)
    assert seen == set()


def test_equal_mappings_are_one_object(repository: Path) -> None:
    mappings = [m for c in read_desired(repository).connectors for m in c.spec.mappings]
    by_value: dict[object, object] = {}
    for mapping in mappings:
        assert by_value.setdefault(mapping, mapping) is mapping


@needs_proc
def test_ctrl_c_stops_a_large_validate_with_nothing_left(tmp_path: Path) -> None:
    folder = tmp_path / "connectors"
    folder.mkdir()
    for i in range(1000):  # about 2 s of checking
        (folder / f"big-{i:04d}.yaml").write_text(_big_connector(i, 100), encoding="utf-8")
    mark = uuid.uuid4().hex
    env = {**os.environ, RETIRED_SETTING: "2", "CXRECON_NO_CACHE": "1", "CXRECON_MARK": mark}
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "validate", str(folder)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # Whoever started pytest may have left Ctrl-C ignored (a background job): not here.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    others: set[int] = set()
    # Its imports take about 0.2 s of CPU: past 0.8 s it is checking the files.
    deadline = time.monotonic() + 120
    while process.poll() is None and _cpu_seconds(process.pid) < 0.8:
        others.update(pid for pid in _marked(mark) if pid != process.pid)
        assert time.monotonic() < deadline, "validate did not get to its files"
        time.sleep(0.01)  # polling /proc: no event tells when the load has begun
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole group
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err.decode()
    assert "Traceback" not in err.decode()
    assert others == set()
    assert _marked(mark) == []


def _big_connector(index: int, mappings: int) -> str:
    lines = [
        f"name: Big-{index:04d}",
        "connectorType: CUSTOM",
        "lifecycleStatus: DRAFT",
        f"endpointUrl: https://crm{index}.example.com/api",
        "authentication:",
        "  type: API_KEY",
        "  credentials:",
        "    apiKey: ${env:BIG_API_KEY}",
        "    headerName: X-Api-Key",
        "mappings:",
        "  - cxoneField: contact.external_id",
        "    crmField: id",
        "    direction: INBOUND",
    ]
    for m in range(mappings):
        lines += [
            f"  - cxoneField: contact.custom.field_{m:03d}",
            f"    crmField: custom_field_{m:03d}",
            "    direction: INBOUND",
        ]
    return "\n".join(lines) + "\n"


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time `pid` has used (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(parent: int) -> list[int]:
    return [pid for pid, ppid, _ in _processes() if ppid == parent]


def _marked(mark: str) -> list[int]:
    """Live processes (any parent) whose environment carries `mark`."""
    return [pid for pid, _, environ in _processes() if mark.encode() in environ]


def _processes() -> Iterator[tuple[int, int, bytes]]:
    """(pid, parent pid, environment) of each live process /proc lets us read."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if state != "Z":
            yield int(entry.name), int(parent), environ
