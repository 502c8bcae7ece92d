"""The write-ahead audit log: no write reaches CXone unless its intent is on disk; a log at its
size limit makes the connector fail in one line; a line cut short is detected, the next record
starts on a new line, and readers skip it with a warning; a link is never appended through."""

from __future__ import annotations

import errno
import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply import audit as audit_module
from reconciler.apply.actor import Actor
from reconciler.apply.audit import AuditLog, AuditWriteError
from reconciler.apply.audit_reader import HistoryReader
from reconciler.apply.audit_records import AuditEvent, WriteIntent
from reconciler.controller.page.audit_view import AuditReader
from reconciler.safefs import UnsafePathError
from reconciler.testing import RunningEmulator

from .helpers import Project, connection_env, connector_doc, remote_connectors, run_cli


class FullDisk:
    """The `os` module as the audit log sees it on a full file system (ext4, NFS)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    @staticmethod
    def write(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    @staticmethod
    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    fdatasync = fsync


INTENT = WriteIntent(connector="A", action="create", method="POST", fields=("name",))


def _lines(path: Path) -> list[str]:
    return path.read_bytes().decode("utf-8").split("\n")


def test_an_intent_is_on_disk_whole_before_its_write_id_is_returned(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, actor=Actor("u"), environment="prod", run_id="r1") as log:
        write_id = log.intent(INTENT)
        (line,) = path.read_text(encoding="utf-8").splitlines()
        record = json.loads(line)
        assert (record["event"], record["writeId"], record["result"]) == (
            "intent",
            write_id,
            "pending",
        )
        assert record["pid"] == os.getpid()
        log.record(AuditEvent(connector="A", action="create", result="success", write_id=write_id))
    outcome = json.loads(path.read_text(encoding="utf-8").splitlines()[1])
    assert (outcome["event"], outcome["writeId"]) == ("outcome", write_id)


def test_a_line_cut_short_is_followed_by_a_record_on_a_new_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"v": 2, "event": "outcome"}\n{"v": 2, "event": "intent", "writeI')

    with AuditLog(path, actor=Actor("u"), environment=None) as log:
        log.record(AuditEvent(connector="A", action="update", result="success"))

    lines = _lines(path)
    assert lines[1] == '{"v": 2, "event": "intent", "writeI'
    assert json.loads(lines[2])["connector"] == "A"
    assert lines[3] == ""


def test_readers_skip_a_line_cut_short_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"v": 2, "event": "intent", "writeId": "r-w1", "connec')
    with AuditLog(path, actor=Actor("u"), environment=None, run_id="r2") as log:
        log.record(AuditEvent(connector="B", action="create", result="success", connector_id="c-2"))

    with caplog.at_level(logging.WARNING, logger="cxrecon.audit"):
        history = HistoryReader(path).read(None)
        view = AuditReader(path).view(None)

    assert list(history.connectors) == ["B"]
    assert "B" in view.last_write
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2, warnings
    assert all("not a whole record" in w for w in warnings)
    assert f"{path}:1" in warnings[0]


def test_a_committed_link_at_the_audit_log_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("the user's file\n", encoding="utf-8")
    state = tmp_path / "repo" / ".cxrecon"
    state.mkdir(parents=True)
    (state / "audit.jsonl").symlink_to(outside)

    with pytest.raises(UnsafePathError, match="symbolic link"):
        AuditLog(state / "audit.jsonl", actor=Actor("u"), environment=None, root=tmp_path / "repo")

    assert outside.read_text(encoding="utf-8") == "the user's file\n"


def test_a_committed_cxrecon_folder_link_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = tmp_path / "repo"
    root.mkdir()
    (root / ".cxrecon").symlink_to(elsewhere, target_is_directory=True)

    with pytest.raises(UnsafePathError, match="symbolic link"):
        AuditLog(root / ".cxrecon" / "audit.jsonl", actor=Actor("u"), environment=None, root=root)

    assert list(elsewhere.iterdir()) == []


def test_a_log_given_as_typed_behind_a_cxrecon_link_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`apply --audit-log .cxrecon/audit.jsonl` in the project: the path as typed (relative)
    is checked below the project as the default one is."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = tmp_path / "repo"
    root.mkdir()
    (root / ".cxrecon").symlink_to(elsewhere, target_is_directory=True)
    monkeypatch.chdir(root)

    with pytest.raises(UnsafePathError, match="symbolic link"):
        AuditLog(Path(".cxrecon/audit.jsonl"), actor=Actor("u"), environment=None, root=root)

    assert list(elsewhere.iterdir()) == []


def test_an_intent_that_cannot_be_written_raises_and_close_never_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, actor=Actor("u"), environment=None)
    monkeypatch.setattr(audit_module, "os", FullDisk())

    with pytest.raises(AuditWriteError) as caught:
        log.intent(INTENT)
    assert str(caught.value) == (
        f"cannot write the audit log {path}: no space left on the device; free space (or "
        "raise the limit) and run again"
    )
    assert log.record(AuditEvent(connector="A", action="create", result="failure")) is False
    log.close()  # the final fsync fails too: no exception, the failure is kept
    assert log.closed
    assert log.failure == str(caught.value)
    assert log.records_lost == 2
    assert path.read_bytes() == b""


def _limited(limit: int) -> None:
    # A write past the limit then fails with EFBIG instead of killing the process (Python
    # ignores SIGXFSZ too; said here so the child does not depend on it).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_at_its_size_limit_the_log_stops_the_writes_it_cannot_record(
    project: Project, emulator: RunningEmulator
) -> None:
    for i in range(6):
        project.write(connector_doc(f"F-{i}"))
    assert run_cli(["validate"]).exit_code == 0  # the cache is filled before the limit
    limit = 2600  # room for about two records: the third write's intent is cut short

    limited = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", "--auto-approve", "--parallelism", "1"],
        cwd=project.root,
        env={**os.environ, **connection_env(emulator.base_url)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=lambda: _limited(limit),  # sets the limit in the child only
    )

    assert limited.returncode == 1, limited.stderr[-3000:]
    output = limited.stdout + limited.stderr
    assert "Traceback" not in output
    assert "internal error" not in output
    assert f"cannot write the audit log {project.audit_log}: the file is over its size" in output
    data = project.audit_log.read_bytes()
    assert len(data) == limit
    assert not data.endswith(b"\n")  # the last intent is cut short
    whole = [json.loads(line) for line in data.decode().split("\n")[:-1]]
    intended = {r["connector"] for r in whole if r["event"] == "intent"}
    created = {c["name"] for c in remote_connectors(emulator.control)}
    # Every connector in CXone had its intent on disk first; the others were never sent.
    assert created <= intended
    assert len(created) < 6

    rerun = run_cli(["apply", "--auto-approve"])

    assert rerun.exit_code == 0, rerun.output[-3000:]
    lines = _lines(project.audit_log)
    torn = [line for line in lines[:-1] if not line.endswith("}")]
    assert len(torn) == 1  # the cut line stays alone; the next record started on a new line
    for line in lines[:-1]:
        if line not in torn:
            json.loads(line)
    assert sorted(c["name"] for c in remote_connectors(emulator.control)) == [
        f"F-{i}" for i in range(6)
    ]


def _can_mount_privately() -> bool:
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=8k tmpfs /mnt"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@pytest.mark.skipif(
    not shutil.which("unshare") or not _can_mount_privately(),
    reason="needs a private mount namespace (unshare -rm) to make a small file system",
)
def test_on_a_full_file_system_no_write_goes_out_unrecorded(
    project: Project, emulator: RunningEmulator, tmp_path: Path
) -> None:
    for i in range(6):
        project.write(connector_doc(f"N-{i}"))
    assert run_cli(["validate"]).exit_code == 0
    small = project.root / "small"
    small.mkdir()
    copy = tmp_path / "audit-copy.jsonl"
    # An 8 KiB file system, seen only by the child: the log fills it part-way through.
    script = (
        f"mount -t tmpfs -o size=8k tmpfs {small} && "
        f"{sys.executable} -m reconciler apply --auto-approve --parallelism 1 "
        f"--audit-log {small}/audit.jsonl; rc=$?; cp {small}/audit.jsonl {copy}; exit $rc"
    )

    full = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        cwd=project.root,
        env={**os.environ, **connection_env(emulator.base_url)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert full.returncode == 1, full.stderr[-3000:]
    output = full.stdout + full.stderr
    assert "Traceback" not in output
    assert f"cannot write the audit log {small}/audit.jsonl: no space left on the device" in output
    lines = copy.read_bytes().decode().split("\n")
    whole = [json.loads(line) for line in lines if line.endswith("}")]
    intended = {r["connector"] for r in whole if r["event"] == "intent"}
    created = {c["name"] for c in remote_connectors(emulator.control)}
    assert created <= intended
    assert len(created) < 6
