"""Sync windows (Argo CD-style): when the controller may write, from `syncWindows` in cxrecon.yaml.

A window is a cron schedule plus a duration in a time zone. Deny wins over allow; when allow
windows apply to a connector, it is written only inside one of them. Outside, changes are
planned and reported, never applied (unless the controller runs with --ignore-windows).

    syncWindows:
      - kind: allow              # allow | deny
        schedule: "0 22 * * 1-5" # cron: minute hour day-of-month month day-of-week, or @daily…
        duration: 8h             # 30m, 1h30m, 2d …
        timeZone: Europe/Berlin  # IANA name; default UTC
        environments: [production]   # optional: only these environments (-e)
        connectors: ["Salesforce-*"] # optional: only connectors whose name matches a glob
        description: weeknight change window
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from reconciler.config.cron import cron_problems, time_zone_problem
from reconciler.config.durations import format_duration, parse_duration
from reconciler.documents.yamlload import LoadedDocument
from reconciler.errors import ConfigError
from reconciler.model import Diagnostic, SourceLocation

Kind = Literal["allow", "deny"]

WINDOWS_KEY: Final = "syncWindows"
_KEYS: Final = {
    "kind",
    "schedule",
    "duration",
    "timeZone",
    "environments",
    "connectors",
    "description",
}
_SECOND: Final = dt.timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class SyncWindow:
    """One allow or deny window; `environments` and `connectors` empty mean "all"."""

    kind: Kind
    schedule: str
    duration: dt.timedelta
    timezone: str = "UTC"
    environments: tuple[str, ...] = ()
    connectors: tuple[str, ...] = ()
    description: str | None = None
    location: SourceLocation | None = None

    @property
    def label(self) -> str:
        what = self.description or (
            f"{self.schedule} for {format_duration(self.duration.total_seconds())}"
        )
        return f"{self.kind} window '{what}'"

    def applies_to(self, environment: str | None, connector: str) -> bool:
        if self.environments and (environment is None or environment not in self.environments):
            return False
        return not self.connectors or any(fnmatchcase(connector, g) for g in self.connectors)

    def active_span(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
        """(start, end) of the occurrence covering `now` (aware), or None when closed."""
        from croniter import croniter  # here: ~50 ms of imports that a run without windows skips

        local = now.astimezone(ZoneInfo(self.timezone))
        # The latest start at or before `now`; croniter's get_prev is strictly before its base.
        base = local.replace(microsecond=0) + _SECOND
        start: dt.datetime = croniter(self.schedule, base).get_prev(dt.datetime)
        end = start + self.duration
        return (start, end) if start <= local < end else None

    def next_start(self, now: dt.datetime) -> dt.datetime:
        from croniter import croniter

        local = now.astimezone(ZoneInfo(self.timezone))
        nxt: dt.datetime = croniter(self.schedule, local).get_next(dt.datetime)
        return nxt


@dataclass(frozen=True, slots=True)
class WindowVerdict:
    """Whether a connector may be written now, why, and when that may change."""

    allowed: bool
    reason: str
    until: dt.datetime | None = None


def evaluate(
    windows: Sequence[SyncWindow],
    now: dt.datetime,
    environment: str | None,
    connector: str,
) -> WindowVerdict:
    """The verdict for one connector at `now` (an aware datetime)."""
    relevant = [w for w in windows if w.applies_to(environment, connector)]
    if not relevant:
        return WindowVerdict(True, "no sync window applies")
    denies = [(w, span) for w in relevant if w.kind == "deny" if (span := w.active_span(now))]
    if denies:
        window, (_, end) = max(denies, key=lambda pair: pair[1][1])
        return WindowVerdict(False, f"{window.label} is active until {_at(end)}", end)
    allows = [w for w in relevant if w.kind == "allow"]
    if not allows:
        return WindowVerdict(True, "no deny window is active")
    open_now = [(w, span) for w in allows if (span := w.active_span(now))]
    if open_now:
        window, (_, end) = max(open_now, key=lambda pair: pair[1][1])
        return WindowVerdict(True, f"inside {window.label} until {_at(end)}", end)
    window, start = min(((w, w.next_start(now)) for w in allows), key=lambda pair: pair[1])
    return WindowVerdict(
        False, f"outside every allow window; the next, {window.label}, opens {_at(start)}", start
    )


def _at(moment: dt.datetime) -> str:
    return f"{moment.isoformat(timespec='minutes')} ({moment.tzname()})"


@dataclass(frozen=True, slots=True)
class WindowProblem:
    """A bad window: where (the data path), what, and whether the value is missing."""

    path: tuple[str | int, ...]
    diagnostic: Diagnostic
    #: The key is absent: a schema `required` error at the window says the same.
    missing: bool = False


def check_windows(
    document: LoadedDocument,
) -> tuple[tuple[SyncWindow, ...], list[WindowProblem]]:
    """The valid windows of a project document, and every problem of the bad ones."""
    data = document.data if isinstance(document.data, dict) else {}
    block = data.get(WINDOWS_KEY)
    if block is None:
        return (), []
    if not isinstance(block, list):
        return (), [_problem(document, (WINDOWS_KEY,), "must be a list of windows")]
    windows: list[SyncWindow] = []
    problems: list[WindowProblem] = []
    for index, item in enumerate(block):
        window, found = _window(document, index, item)
        problems.extend(found)
        if window is not None and not found:
            windows.append(window)
    return tuple(windows), problems


def _window(
    document: LoadedDocument, index: int, item: Any
) -> tuple[SyncWindow | None, list[WindowProblem]]:
    at: tuple[str | int, ...] = (WINDOWS_KEY, index)
    if not isinstance(item, dict):
        return None, [
            _problem(document, at, "each window is a mapping with kind, schedule, duration")
        ]
    problems = [
        _problem(document, (*at, key), f"unknown key '{key}'; known: {', '.join(sorted(_KEYS))}")
        for key in item
        if key not in _KEYS
    ]
    kind = item.get("kind")
    if kind not in ("allow", "deny"):
        problems.append(
            _problem(
                document, (*at, "kind"), "kind must be 'allow' or 'deny'", missing=kind is None
            )
        )
    schedule = _schedule(document, (*at, "schedule"), item, problems)
    duration = _duration(document, (*at, "duration"), item.get("duration"), problems)
    zone = item.get("timeZone", "UTC")
    zone_problem = time_zone_problem(zone)
    if zone_problem is not None:
        problems.append(_problem(document, (*at, "timeZone"), zone_problem))
    environments = _names(document, (*at, "environments"), item.get("environments"), problems)
    connectors = _names(document, (*at, "connectors"), item.get("connectors"), problems)
    description = item.get("description")
    if description is not None and not isinstance(description, str):
        problems.append(_problem(document, (*at, "description"), "description must be text"))
    if problems or duration is None:
        return None, problems
    return (
        SyncWindow(
            kind="allow" if kind == "allow" else "deny",
            schedule=str(schedule).strip(),
            duration=duration,
            timezone=str(zone),
            environments=environments,
            connectors=connectors,
            description=description,
            location=document.location_of(at),
        ),
        [],
    )


def _schedule(
    document: LoadedDocument,
    at: tuple[str | int, ...],
    item: dict[str, Any],
    problems: list[WindowProblem],
) -> Any:
    """The window's cron expression as written; its problems go to `problems`."""
    schedule = item.get("schedule")
    if not isinstance(schedule, str):
        problems.append(
            _problem(
                document,
                at,
                "schedule is required: a cron expression such as '0 22 * * 1-5' or @daily",
                missing=schedule is None,
            )
        )
    else:
        for message in cron_problems(schedule, item.get("timeZone")):
            problems.append(_problem(document, at, message))
    return schedule


def _duration(
    document: LoadedDocument,
    at: tuple[str | int, ...],
    value: Any,
    problems: list[WindowProblem],
) -> dt.timedelta | None:
    if not isinstance(value, str):
        problems.append(
            _problem(
                document,
                at,
                "duration is required, e.g. 1h, 30m or 1h30m",
                missing=value is None,
            )
        )
        return None
    try:
        seconds = parse_duration(value, what="duration")
    except ConfigError as exc:
        problems.append(_problem(document, at, str(exc)))
        return None
    if seconds <= 0:
        problems.append(_problem(document, at, "duration must be longer than zero"))
        return None
    return dt.timedelta(seconds=seconds)


def _names(
    document: LoadedDocument,
    at: tuple[str | int, ...],
    value: Any,
    problems: list[WindowProblem],
) -> tuple[str, ...]:
    if value is None:
        return ()
    what = f"{at[-1]} must be a list of names or globs"
    if not isinstance(value, list):
        problems.append(_problem(document, at, what))
        return ()
    bad = [i for i, v in enumerate(value) if not (isinstance(v, str) and v)]
    for i in bad:
        problems.append(_problem(document, (*at, i), f"{what}; item {i + 1} is not a name"))
    return () if bad else tuple(value)


def _problem(
    document: LoadedDocument,
    at: tuple[str | int, ...],
    message: str,
    *,
    missing: bool = False,
) -> WindowProblem:
    diagnostic = Diagnostic("error", message, document.location_of(at), "sync-window")
    return WindowProblem(at, diagnostic, missing)
