"""The compliance trail of `cxrecon apply`, `sync` and the controller: a write-ahead JSON
Lines log; before each write to CXone an intent record reaches the disk, after it its outcome
(the records' values: reconciler.apply.audit_records; reading them back: .audit_reader).

Each record is one `write` of a whole line through an O_NOFOLLOW descriptor (never through a
link), fsynced; a last line cut short by a crash or a full disk is detected and the next record
starts on a new line. Secret-bearing values and any registered secret are masked (docs/audit.md).
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import socket
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from reconciler.apply.actor import Actor
from reconciler.apply.audit_records import AuditEvent, Kind, Result, WriteIntent
from reconciler.safefs import FileWriteError, ensure_dir, open_append, write_failure
from reconciler.secret import MASK, Secret, spellings

__all__ = [
    "DEFAULT_AUDIT_LOG",
    "AuditLog",
    "AuditWriteError",
    "in_flight",
]

DEFAULT_AUDIT_LOG: Final = Path(".cxrecon") / "audit.jsonl"
SCHEMA_VERSION: Final = 2

#: Write ids of intents this process has written whose outcome is not recorded yet: a
#: resolver in this process (a concurrent apply, the controller's next cycle) leaves them be.
_IN_FLIGHT: set[str] = set()
_IN_FLIGHT_LOCK = threading.Lock()


class AuditWriteError(FileWriteError):
    """A record could not be appended to the audit log (full disk, size limit, I/O error)."""


def in_flight() -> frozenset[str]:
    """Write ids whose intent this process wrote and whose outcome is not recorded yet."""
    with _IN_FLIGHT_LOCK:
        return frozenset(_IN_FLIGHT)


class AuditLog:
    """An append-only JSON Lines file; thread-safe; `close()` is idempotent, fsyncs, and never
    raises for a full disk (`failure` says what went wrong, once)."""

    def __init__(
        self,
        path: Path,
        *,
        actor: Actor,
        environment: str | None,
        run_id: str | None = None,
        command: str = "apply",
        root: Path | None = None,
    ) -> None:
        self.path = path
        self.actor = actor
        self.environment = environment
        self.run_id = run_id or uuid.uuid4().hex
        self.command = command
        self.records_written = 0
        #: Records that could not be appended (after the first failure, in order).
        self.records_lost = 0
        #: The first reason a record could not be appended, as one line; None while all went.
        self.failure: str | None = None
        #: One line per earlier unknown write this run settled (reconciler.apply.pending).
        self.settled: list[str] = []
        self._outcomes: dict[str, int] = {}
        self._unknown: list[str] = []
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        self._writes = 0
        self._host = socket.gethostname()
        if root is not None and _inside(path.absolute(), root.absolute()):
            # A committed `.cxrecon` link must not carry the log outside the project (a path
            # typed relative to the working folder, --audit-log, is checked the same way).
            ensure_dir(root.absolute(), path.absolute().parent, mode=0o700)
        else:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise write_failure(path.parent, exc, what="folder") from None
        # O_APPEND: concurrent runs interleave whole lines, never overwrite each other.
        self._fd: int | None = open_append(path)
        #: The file ends in a line cut short (a crash, a full disk): start on a new line.
        self._torn = _ends_torn(path, self._fd)

    def register_secret(self, secret: Secret) -> None:
        """A resolved secret value that must never reach the file, even inside a message."""
        value = secret.reveal()
        if len(value) >= 4:  # masking very short strings would garble ordinary text
            # Every spelling: a message quoting a server's answer may hold it JSON-escaped.
            forms = {form for form in spellings(value) if len(form) >= 4}
            with self._lock:
                self._secrets.update(forms)

    def intent(self, intent: WriteIntent) -> str:
        """Append (and fsync) the intent of a write; its write id. AuditWriteError when it
        cannot be written: then the write must not be sent."""
        with self._lock:
            self._writes += 1
            write_id = f"{self.run_id}-w{self._writes}"
        record = {
            **self._head("intent", write_id),
            "connector": intent.connector,
            "connectorId": intent.connector_id,
            "action": intent.action,
            "method": intent.method,
            "fields": list(intent.fields),
            "etagBefore": intent.etag_before,
            "result": "pending",
            "expect": None if intent.expect is None else intent.expect.to_json(),
            "pid": os.getpid(),
            "host": self._host,
        }
        self._append(record, strict=True)
        with _IN_FLIGHT_LOCK:
            _IN_FLIGHT.add(write_id)
        return write_id

    def record(self, event: AuditEvent) -> bool:
        """Append an outcome, resolution, note or sync record; False (and `failure` set)
        when it could not be written: the caller carries on, the run reports it."""
        if event.write_id is not None and event.kind in ("outcome", "sync"):
            with _IN_FLIGHT_LOCK:
                _IN_FLIGHT.discard(event.write_id)
            with self._lock:
                self._outcomes[event.result] = self._outcomes.get(event.result, 0) + 1
                if event.result == "unknown":
                    self._unknown.append(event.connector)
        return self._append(self._to_json(event), strict=False)

    def outcome_count(self, result: Result) -> int:
        """Writes of this run whose outcome was recorded as `result` (or would have been)."""
        with self._lock:
            return self._outcomes.get(result, 0)

    def unknown_connectors(self) -> tuple[str, ...]:
        """Connectors with a write of this run whose answer never came."""
        with self._lock:
            return tuple(self._unknown)

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.fsync(fd)
        except OSError as exc:
            self._note_failure(exc)
        finally:
            try:
                os.close(fd)
            except OSError as exc:  # NFS reports a full disk at close
                self._note_failure(exc)

    @property
    def closed(self) -> bool:
        return self._fd is None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _append(self, record: Mapping[str, Any], *, strict: bool) -> bool:
        """Append one record; `strict` (an intent): on disk before this returns, else
        AuditWriteError. Other records reach the OS at once and the disk at `close` (a
        crash may lose one: its write then reads as unsettled, and is read back)."""
        line = self._scrub(json.dumps(record, sort_keys=False, default=str)).encode()
        with self._lock:
            fd = self._fd
            if fd is None:
                raise RuntimeError(f"audit log {self.path} is closed")
            # One write of a whole line: a reader never sees half a record next to a
            # whole one, and concurrent appenders never interleave inside a line.
            data = (b"\n" if self._torn else b"") + line + b"\n"
            error: AuditWriteError | None = None
            try:
                _write_all(fd, data)
            except _Torn as torn:
                self._torn = True
                error = self._note_failure(torn.cause)
            except OSError as exc:
                error = self._note_failure(exc)
            else:
                self._torn = False
                self.records_written += 1
            if error is not None:
                self.records_lost += 1
        if error is None and strict:
            # Outside the lock: intents written meanwhile reach the disk with this one.
            try:
                (getattr(os, "fdatasync", None) or os.fsync)(fd)
            except OSError as exc:
                error = self._note_failure(exc)
        if error is None:
            return True
        if strict:
            raise error
        return False

    def _note_failure(self, exc: OSError) -> AuditWriteError:
        error = AuditWriteError(str(write_failure(self.path, exc, what="the audit log")))
        if self.failure is None:
            self.failure = str(error)
        return error

    def _head(self, kind: Kind, write_id: str | None) -> dict[str, Any]:
        return {
            "v": SCHEMA_VERSION,
            "event": kind,
            "writeId": write_id,
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "runId": self.run_id,
            "command": self.command,
            "actor": self.actor.to_json(),
            "environment": self.environment,
        }

    def _to_json(self, event: AuditEvent) -> dict[str, Any]:
        return {
            **self._head(event.kind, event.write_id),
            "connector": event.connector,
            "connectorId": event.connector_id,
            "action": event.action,
            "fields": list(event.fields),
            "etagBefore": event.etag_before,
            "etagAfter": event.etag_after,
            "httpStatus": event.http_status,
            "attempts": event.attempts,
            "latencyMs": round(event.latency_ms, 3),
            "result": event.result,
            "error": (
                None
                if event.error_class is None
                else {"class": event.error_class, "message": event.error_message}
            ),
            "outOfBand": [c.to_json() for c in event.out_of_band],
            "details": dict(event.details),
        }

    def _scrub(self, line: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for value in secrets:
            encoded = json.dumps(value)[1:-1]  # the value as it appears inside a JSON string
            line = line.replace(encoded, MASK)
        return line


class _Torn(Exception):
    """Part of a line reached the file before the write failed."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _write_all(fd: int, data: bytes) -> None:
    """`data` appended whole; _Torn when only part of it could be (a size limit is reached
    part-way: the kernel takes what fits, then refuses the rest)."""
    view = memoryview(data)
    written = 0
    while written < len(data):
        try:
            n = os.write(fd, view[written:])
        except OSError as exc:
            if written:
                raise _Torn(exc) from None
            raise
        if n == 0:
            raise _Torn(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        written += n


def _ends_torn(path: Path, fd: int) -> bool:
    """Whether the file's last byte is not a newline (a record cut short)."""
    size = os.fstat(fd).st_size
    if size == 0:
        return False
    try:
        reader = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return True  # cannot tell: an empty line costs a reader nothing
    try:
        return os.pread(reader, 1, size - 1) != b"\n"
    finally:
        os.close(reader)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True
