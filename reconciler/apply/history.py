"""Reads back what the audit log (reconciler.apply.audit) says cxrecon applied: per
environment, every connector with a successful write, its id and when. The planner uses it
to tell a connector deleted in CXone from one not created yet.

Streaming and tolerant: lines that are not audit records (or are cut short by a write in
progress) are skipped. `HistoryReader` reads a growing file incrementally, for the
controller that plans against the same log every cycle.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from reconciler.plan.history import Applied, AppliedHistory

#: Audit actions that are not writes of a connector's configuration.
_NOT_WRITES: Final = frozenset({"sync", "conflict", "reread"})
#: Every successful record holds this; other lines are not parsed at all.
_SUCCESS: Final = b'"result": "success"'


def applied_record(record: Any, environment: str | None) -> Applied | None:
    """The connector a successful write of `environment` recorded, else None."""
    if not isinstance(record, dict) or record.get("result") != "success":
        return None
    if record.get("environment") != environment or record.get("action") in _NOT_WRITES:
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


@dataclass
class _State:
    key: tuple[int, int] | None = None  # (device, inode) of the file read
    offset: int = 0
    per_environment: dict[str | None, dict[str, Applied]] = field(default_factory=dict)


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
                fh.seek(state.offset)
                data = fh.read(info.st_size - state.offset)
        except OSError:
            return
        # Only whole lines: a record being written is read next time.
        end = data.rfind(b"\n") + 1
        state.offset += end
        for line in data[:end].splitlines():
            if _SUCCESS not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            env = record.get("environment") if isinstance(record, dict) else None
            env = env if isinstance(env, str) else None
            applied = applied_record(record, env)
            if applied is not None:
                state.per_environment.setdefault(env, {})[applied.name] = applied


def read_history(path: Path, environment: str | None) -> AppliedHistory:
    """What one audit log says was applied in `environment` (empty when there is none)."""
    return HistoryReader(path).read(environment)
