"""Reads back what the audit log (reconciler.apply.audit) says: per environment, every connector
with a successful write (its id and when), and the writes whose outcome is not known yet.

The planner uses the first to tell a connector deleted in CXone from one not created yet;
reconciler.apply.pending settles the second. Streaming and tolerant: a line that is not an
audit record is skipped, a line cut short (a crash, a full disk) with a warning, never an
exception. `HistoryReader` reads a growing file incrementally (the controller, every cycle).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from reconciler.plan.history import Applied, AppliedHistory

log = logging.getLogger("cxrecon.audit")

#: Audit actions that are not writes of a connector's configuration.
_NOT_WRITES: Final = frozenset({"sync", "conflict", "reread"})
#: Only lines holding one of these are parsed (a success, or part of a write's accounting).
_WANTED: Final = (b'"result": "success"', b'"writeId": "')
#: Readers kept per audit log file, so each process reads a growing log once.
_READERS: dict[Path, HistoryReader] = {}
_READERS_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class PendingWrite:
    """A write whose intent is in the log and whose outcome is missing or `unknown`."""

    write_id: str
    connector: str
    action: str
    connector_id: str | None
    expect: dict[str, Any] | None
    time: str | None
    pid: int | None
    host: str | None
    #: An outcome `unknown` was recorded (the writer gave up waiting): settle it now.
    unknown: bool = False


def applied_record(record: Any, environment: str | None) -> Applied | None:
    """The connector a successful write of `environment` recorded, else None."""
    if not isinstance(record, dict) or record.get("result") != "success":
        return None
    if record.get("environment") != environment or record.get("action") in _NOT_WRITES:
        return None
    if record.get("event") == "intent":
        return None
    name, cid, time = record.get("connector"), record.get("connectorId"), record.get("time")
    if not isinstance(name, str) or not name or not isinstance(record.get("action"), str):
        return None
    return Applied(
        name=name,
        connector_id=cid if isinstance(cid, str) and cid else None,
        time=time if isinstance(time, str) else None,
        source="audit log",
    )


def torn_warning(path: Path, line_number: int | None = None) -> str:
    """The warning for a line that is not a whole record."""
    where = f"{path}:{line_number}" if line_number is not None else str(path)
    return (
        f"audit log {where}: a line is not a whole record (cut short by a crash or a full "
        "disk); skipped"
    )


@dataclass
class _State:
    key: tuple[int, int] | None = None  # (device, inode) of the file read
    offset: int = 0
    lines: int = 0
    per_environment: dict[str | None, dict[str, Applied]] = field(default_factory=dict)
    pending: dict[str | None, dict[str, PendingWrite]] = field(default_factory=dict)


class HistoryReader:
    """The history of one audit log file; each `read` parses only what was appended since
    the last (from the start again when the file was replaced or truncated)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._state = _State()
        self._lock = threading.Lock()

    def read(self, environment: str | None) -> AppliedHistory:
        with self._lock:
            self._update()
            found = self._state.per_environment.get(environment, {})
            return AppliedHistory.of(found.values())

    def pending(self, environment: str | None) -> tuple[PendingWrite, ...]:
        """Writes of `environment` whose outcome is missing or unknown, oldest first."""
        with self._lock:
            self._update()
            return tuple(self._state.pending.get(environment, {}).values())

    def _update(self) -> None:
        try:
            info = os.stat(self.path)
        except OSError:
            return  # no audit log yet (or unreadable): nothing known, nothing to report
        key = (info.st_dev, info.st_ino)
        state = self._state
        if key != state.key or info.st_size < state.offset:
            self._state = state = _State(key=key)
        if info.st_size == state.offset:
            return
        try:
            with self.path.open("rb") as fh:
                if state.offset and _rewritten(fh, state.offset):
                    self._state = state = _State(key=key)
                fh.seek(state.offset)
                data = fh.read(info.st_size - state.offset)
        except OSError:
            return
        # Only whole lines: a record being written is read next time.
        end = data.rfind(b"\n") + 1
        state.offset += end
        for line in data[:end].splitlines():
            state.lines += 1
            if not line.rstrip().endswith(b"}"):
                if line.strip():
                    log.warning("%s", torn_warning(self.path, state.lines))
                continue
            if not any(w in line for w in _WANTED):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                log.warning("%s", torn_warning(self.path, state.lines))
                continue
            if not isinstance(record, dict):
                continue
            env = record.get("environment")
            env = env if isinstance(env, str) else None
            _account(state, env, record)
            applied = applied_record(record, env)
            if applied is not None:
                state.per_environment.setdefault(env, {})[applied.name] = applied


def _rewritten(fh: Any, offset: int) -> bool:
    """Whether the file was rewritten in place since it was read up to `offset` (what was
    read ended a line; the byte there must still be a newline)."""
    fh.seek(offset - 1)
    return bool(fh.read(1) != b"\n")


def _account(state: _State, env: str | None, record: dict[str, Any]) -> None:
    """Follow one write through its intent, outcome and resolution records."""
    write_id, event = record.get("writeId"), record.get("event")
    if not isinstance(write_id, str) or not write_id:
        return
    pending = state.pending.setdefault(env, {})
    if event == "intent":
        pending[write_id] = _pending_of(write_id, record)
    elif event in ("outcome", "sync") and record.get("result") == "unknown":
        if write_id in pending:
            pending[write_id] = replace(pending[write_id], unknown=True)
    elif event in ("outcome", "sync", "resolution"):
        pending.pop(write_id, None)


def _pending_of(write_id: str, record: dict[str, Any]) -> PendingWrite:
    def text(key: str) -> str | None:
        value = record.get(key)
        return value if isinstance(value, str) and value else None

    pid = record.get("pid")
    expect = record.get("expect")
    return PendingWrite(
        write_id=write_id,
        connector=text("connector") or "",
        action=text("action") or "write",
        connector_id=text("connectorId"),
        expect=expect if isinstance(expect, dict) else None,
        time=text("time"),
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        host=text("host"),
    )


def reader_for(path: Path) -> HistoryReader:
    """The one incremental reader of `path` in this process."""
    with _READERS_LOCK:
        reader = _READERS.get(path)
        if reader is None:
            reader = _READERS[path] = HistoryReader(path)
        return reader


def read_history(path: Path, environment: str | None) -> AppliedHistory:
    """What one audit log says was applied in `environment` (empty when there is none)."""
    return HistoryReader(path).read(environment)
