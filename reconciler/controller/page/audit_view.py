"""What the page shows from the audit log the controller (and `cxrecon apply`/`sync`) append to:
recent records per connector, the last successful write (time and git commit), CRM data syncs.

Bounded: only the last `TAIL_BYTES` of the file are read, at most `PER_CONNECTOR` records are
kept per connector, and the file is parsed again only when its size or mtime changed. The
records were masked when they were written (reconciler.apply.audit); the page escapes them.
A write's intent is not shown (its outcome is); a line cut short is skipped with a warning.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from reconciler.apply.audit_reader import NOT_WRITES, torn_warning

log = logging.getLogger("cxrecon.audit")

#: How much of the end of the audit log is read (a few thousand records).
TAIL_BYTES: Final = 4 * 1024 * 1024
#: Records kept per connector, newest first on the page.
PER_CONNECTOR: Final = 20
#: CRM data syncs kept for the chart, over all connectors.
SYNCS_KEPT: Final = 2000


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit record, as far as the page shows it."""

    time: dt.datetime
    connector: str
    action: str
    result: str
    command: str | None = None
    environment: str | None = None
    run_id: str | None = None
    git_commit: str | None = None
    user: str | None = None
    fields: tuple[str, ...] = ()
    http_status: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_write(self) -> bool:
        return self.action not in NOT_WRITES

    @property
    def is_sync(self) -> bool:
        return self.action == "sync"

    @property
    def ok(self) -> bool:
        return self.result == "success"

    @property
    def sync_status(self) -> str:
        """COMPLETED, FAILED, PENDING, … for a sync; the result otherwise."""
        status = self.details.get("status")
        return str(status) if status else self.result


@dataclass(frozen=True)
class AuditView:
    """The records of one environment, newest first."""

    per_connector: Mapping[str, tuple[AuditEntry, ...]] = field(default_factory=dict)
    last_write: Mapping[str, AuditEntry] = field(default_factory=dict)
    syncs: tuple[AuditEntry, ...] = ()
    #: The file was longer than what was read: older records are not shown.
    truncated: bool = False
    #: Why the log could not be read (None when it could, or does not exist yet).
    problem: str | None = None

    def of(self, connector: str) -> tuple[AuditEntry, ...]:
        return self.per_connector.get(connector, ())


def parse_entry(record: Any) -> AuditEntry | None:
    """One JSON record as an AuditEntry; None for anything that is not one (a write's
    intent included: its outcome, or its resolution, is the entry)."""
    if not isinstance(record, dict) or record.get("event") == "intent":
        return None
    time = _time(record.get("time"))
    connector = record.get("connector")
    action = record.get("action")
    if time is None or not isinstance(connector, str) or not isinstance(action, str):
        return None
    actor = _dict(record.get("actor"))
    error = record.get("error")
    details = _dict(record.get("details"))
    fields = record.get("fields")
    fields = fields if isinstance(fields, list) else []
    status = record.get("httpStatus")
    latency = record.get("latencyMs")
    return AuditEntry(
        time=time,
        connector=connector,
        action=action,
        result=str(record.get("result") or "unknown"),
        command=_text(record.get("command")),
        environment=_text(record.get("environment")),
        run_id=_text(record.get("runId")),
        git_commit=_text(actor.get("gitCommit")),
        user=_text(actor.get("ciActor")) or _text(actor.get("user")),
        fields=tuple(str(f) for f in fields),
        http_status=status if isinstance(status, int) and not isinstance(status, bool) else None,
        latency_ms=float(latency)
        if isinstance(latency, int | float) and not isinstance(latency, bool)
        else None,
        error=_text(error.get("message")) or _text(error.get("class"))
        if isinstance(error, dict)
        else None,
        details=details,
    )


def build_view(
    entries: Iterable[AuditEntry], environment: str | None, truncated: bool
) -> AuditView:
    """Group the entries (oldest first, as in the file) of `environment`."""
    per: dict[str, deque[AuditEntry]] = {}
    last_write: dict[str, AuditEntry] = {}
    syncs: deque[AuditEntry] = deque(maxlen=SYNCS_KEPT)
    for entry in entries:
        if entry.environment != environment:
            continue
        per.setdefault(entry.connector, deque(maxlen=PER_CONNECTOR)).append(entry)
        if entry.is_write and entry.ok:
            last_write[entry.connector] = entry
        if entry.is_sync:
            syncs.append(entry)
    return AuditView(
        per_connector={name: tuple(reversed(q)) for name, q in per.items()},
        last_write=last_write,
        syncs=tuple(reversed(syncs)),
        truncated=truncated,
    )


class AuditReader:
    """Reads the tail of one audit log file, again only when it changed."""

    def __init__(self, path: Path, *, tail_bytes: int = TAIL_BYTES) -> None:
        self.path = path
        self.tail_bytes = tail_bytes
        self._key: tuple[int, int, int] | None = None
        self._entries: tuple[AuditEntry, ...] = ()
        self._truncated = False
        self._views: dict[str | None, AuditView] = {}
        self._lock = threading.Lock()  # pages render in worker threads

    def view(self, environment: str | None) -> AuditView:
        with self._lock:
            return self._view(environment)

    def _view(self, environment: str | None) -> AuditView:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return AuditView()
        except OSError as exc:
            return AuditView(problem=f"cannot read the audit log: {exc.strerror or exc}")
        key = (info.st_ino, info.st_size, info.st_mtime_ns)
        if key != self._key:
            try:
                self._entries, self._truncated = self._read(info.st_size)
            except OSError as exc:
                return AuditView(problem=f"cannot read the audit log: {exc.strerror or exc}")
            self._key = key
            self._views.clear()
        found = self._views.get(environment)
        if found is None:
            found = self._views[environment] = build_view(
                self._entries, environment, self._truncated
            )
        return found

    def _read(self, size: int) -> tuple[tuple[AuditEntry, ...], bool]:
        start = max(0, size - self.tail_bytes)
        with self.path.open("rb") as fh:
            fh.seek(start)
            data = fh.read(self.tail_bytes)
        lines = data.split(b"\n")
        if start > 0:
            lines = lines[1:]  # the first line is cut in the middle
        entries: list[AuditEntry] = []
        last = len(lines) - 1
        torn = 0
        for number, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                # A record being written (the last line) is read next time; any other line
                # that does not parse was cut short by a crash or a full disk.
                torn += number != last
                continue
            entry = parse_entry(record)
            if entry is not None:
                entries.append(entry)
        if torn:
            log.warning("%s", torn_warning(self.path) + f" ({torn} line{'s' if torn > 1 else ''})")
        return tuple(entries), start > 0


def _time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
