"""What the controller has told each destination, so a drift is told once until it changes
or is resolved (not once per cycle), a failure once until it changes, a recovery once.

Kept between cycles in memory and, when the controller has a state directory, in a small
JSON file there (written atomically) so a restart does not tell everything again. It holds
connector names and digests of what was told, never values or URLs.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from reconciler.config.notifications import Notification
from reconciler.hashing import canonical_json
from reconciler.notify.events import Event, EventKind
from reconciler.safefs import (
    FileWriteError,
    UnsafePathError,
    ensure_dir,
    read_bytes,
    refuse_links,
    write_atomic,
)

log = logging.getLogger("cxrecon.controller")

FILE_NAME: Final = "notified.json"


def file_name(environment: str | None) -> str:
    """The memory's file in a state directory: one per environment, so controllers of two
    environments sharing a directory do not overwrite each other's."""
    if not environment:
        return FILE_NAME
    return f"notified-{re.sub(r'[^A-Za-z0-9_-]', '_', environment)}.json"


_VERSION: Final = 1
#: Events told per connector and remembered until resolved; the others (applied, recovered)
#: are news each time they happen.
REMEMBERED: Final = frozenset(
    {
        EventKind.DRIFT,
        EventKind.DELETED,
        EventKind.APPLY_FAILED,
        EventKind.POLICY_VIOLATION,
        EventKind.NOT_READY,
    }
)
#: The key of an event about no connector (the controller's readiness).
WHOLE: Final = ""


class NoticeMemory:
    """destination → kind → environment → item name → fingerprint of what was told."""

    def __init__(self, path: Path | None = None, *, root: Path | None = None) -> None:
        self.path = path
        #: No link below `root` is followed, to read or to write (a committed `.cxrecon`).
        self.root = root
        self._told: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
        #: The controller was not ready when last seen (a recovery is told once, after it).
        self.not_ready = False
        if path is not None:
            self._read(path)

    def unsaid(self, destination: Notification, event: Event) -> Event | None:
        """The part of `event` this destination has not been told (None: nothing)."""
        if event.kind not in REMEMBERED:
            return event
        told = self._of(destination.name, event)
        if not event.items:
            return None if told.get(WHOLE) == _whole(event) else event
        fresh = [i for i in event.items if told.get(i.ident) != i.fingerprint]
        if not fresh:
            return None
        return event.only(fresh)

    def said(self, destination: Notification, event: Event) -> None:
        """`event` reached `destination`."""
        if event.kind not in REMEMBERED:
            return
        told = self._of(destination.name, event, create=True)
        if not event.items:
            told[WHOLE] = _whole(event)
        for item in event.items:
            told[item.ident] = item.fingerprint

    def settle(self, kind: EventKind, environment: str | None, current: Iterable[str]) -> None:
        """Forget what is resolved: items of `kind` no longer in `current` (`Item.ident`s;
        WHOLE for an event about no connector) are told again when they come back."""
        keep = set(current)
        env = environment or ""
        for kinds in self._told.values():
            names = kinds.get(kind.value, {}).get(env)
            if names is None:
                continue
            for name in [n for n in names if n not in keep]:
                del names[name]

    def save(self) -> None:
        """Write the memory to its file (if any); a failure is a warning, never an error."""
        if self.path is None:
            return
        body = {"version": _VERSION, "notReady": self.not_ready, "told": self._told}
        data = canonical_json(body, spaced=True) + b"\n"
        try:
            if self.root is not None and self.path.is_relative_to(self.root):
                ensure_dir(self.root, self.path.parent, mode=0o700)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, data, mode=0o600, what="notification memory")
        except (FileWriteError, UnsafePathError, OSError) as exc:
            log.warning("cannot keep what was notified in %s: %s", self.path, exc)

    def _of(self, destination: str, event: Event, *, create: bool = False) -> dict[str, str]:
        env = event.where.environment or ""
        if not create:
            return self._told.get(destination, {}).get(event.kind.value, {}).get(env, {})
        kinds = self._told.setdefault(destination, {})
        return kinds.setdefault(event.kind.value, {}).setdefault(env, {})

    def _read(self, path: Path) -> None:
        try:
            if self.root is not None:
                refuse_links(self.root, path)
            raw = read_bytes(path)
        except FileNotFoundError:
            return
        except (OSError, UnsafePathError) as exc:
            log.warning("cannot read what was notified from %s (%s); starting afresh", path, exc)
            return
        try:
            body = json.loads(raw)
            told = body["told"] if body.get("version") == _VERSION else {}
            if not _valid(told):
                raise ValueError("unexpected shape")
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("%s is not what cxrecon wrote; starting afresh", path)
            return
        self._told = told
        self.not_ready = bool(body.get("notReady"))


def _whole(event: Event) -> str:
    return event.kind.value


def _valid(told: object) -> bool:
    def strings(value: object) -> bool:
        return isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        )

    def nested(value: object, depth: int) -> bool:
        if depth == 0:
            return strings(value)
        return isinstance(value, dict) and all(
            isinstance(k, str) and nested(v, depth - 1) for k, v in value.items()
        )

    return nested(told, 3)
