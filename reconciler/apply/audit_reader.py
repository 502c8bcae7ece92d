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
import re
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from reconciler.plan.applied import Applied, AppliedHistory

log = logging.getLogger("cxrecon.audit")

#: Audit actions that are not writes of a connector's configuration (the status page's
#: reading of the log counts writes by the same rule).
NOT_WRITES: Final = frozenset({"sync", "conflict", "reread"})
#: Every successful record holds this; other lines are parsed only when a write they
#: account for is still open at the end (see `_HEAD`).
_SUCCESS: Final = b'"result": "success"'
#: The head of a record (reconciler.apply.audit writes these keys first, in this order):
#: an intent opens a write, its outcome (or resolution) closes it, unless it is `unknown`.
_HEAD: Final = re.compile(rb'\{"v": \d+, "event": "(\w+)", "writeId": "([^"]+)"')
_UNKNOWN: Final = b'"result": "unknown"'
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
    if record.get("environment") != environment or record.get("action") in NOT_WRITES:
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
    #: Write id → (its intent's line, an `unknown` outcome was recorded): parsed only when
    #: asked for, as most intents are closed a line or two later.
    open: dict[str, tuple[bytes, bool]] = field(default_factory=dict)


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
            found: list[PendingWrite] = []
            for write_id, (line, unknown) in self._state.open.items():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and record.get("environment") == environment:
                    found.append(replace(_pending_of(write_id, record), unknown=unknown))
            return tuple(found)

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
            head = _HEAD.match(line)
            if head is not None:
                _account(state, head.group(1), head.group(2).decode(), line)
            if _SUCCESS not in line:
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
            applied = applied_record(record, env)
            if applied is not None:
                state.per_environment.setdefault(env, {})[applied.name] = applied


def _rewritten(fh: Any, offset: int) -> bool:
    """Whether the file was rewritten in place since it was read up to `offset` (what was
    read ended a line; the byte there must still be a newline)."""
    fh.seek(offset - 1)
    return bool(fh.read(1) != b"\n")


def _account(state: _State, event: bytes, write_id: str, line: bytes) -> None:
    """Follow one write through its intent, outcome and resolution records."""
    if event == b"intent":
        state.open[write_id] = (line, False)
    elif event in (b"outcome", b"sync") and _UNKNOWN in line:
        if write_id in state.open:
            state.open[write_id] = (state.open[write_id][0], True)
    elif event in (b"outcome", b"sync", b"resolution"):
        state.open.pop(write_id, None)


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
