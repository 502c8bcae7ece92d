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
import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache
from typing import TYPE_CHECKING, Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from reconciler.config.durations import format_duration, parse_duration
from reconciler.documents.yamlload import LoadedDocument
from reconciler.errors import ConfigError
from reconciler.model import Diagnostic, SourceLocation

if TYPE_CHECKING:
    from reconciler.config.project import Project

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
_MACROS: Final = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
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


# --- loading ------------------------------------------------------------------------


def load_windows(project: Project) -> tuple[SyncWindow, ...]:
    """The `syncWindows` of the project file (none without a file).

    `load_project` checks them with the rest of cxrecon.yaml (cron syntax and ranges, time
    zones, zero durations: what the project schema cannot see) and refuses a file with a bad
    window, reporting it with every other problem of the file at its line:col (rule
    `sync-window`); so a loaded project's windows are valid. The controller calls this every
    cycle, after loading the project afresh.
    """
    return project.sync_windows


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
    schedule = item.get("schedule")
    if not isinstance(schedule, str):
        problems.append(
            _problem(
                document,
                (*at, "schedule"),
                "schedule is required: a cron expression such as '0 22 * * 1-5' or @daily",
                missing=schedule is None,
            )
        )
    else:
        for message in cron_problems(schedule, item.get("timeZone")):
            problems.append(_problem(document, (*at, "schedule"), message))
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


# --- cron schedules ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    note: str = ""

    @property
    def takes(self) -> str:
        out = f"{self.name} takes {self.low}-{self.high}{self.note}"
        if self.names:
            out += f" or {self.names[0].upper()}-{self.names[-1].upper()}"
        return out


_FIELDS: Final = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field(
        "month",
        1,
        12,
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    ),
    _Field(
        "day-of-week",
        0,
        7,
        ("sun", "mon", "tue", "wed", "thu", "fri", "sat"),
        " (0 and 7 are Sunday)",
    ),
)
_FIVE_FIELDS: Final = (
    "write five fields (minute hour day-of-month month day-of-week, e.g. '0 22 * * 1-5') "
    f"or one of {', '.join(sorted(_MACROS))}"
)
_STEP: Final = re.compile(r"(?P<base>[^/]*)/(?P<step>.*)")
#: What croniter accepts beyond numbers, names and ranges (last day, nearest weekday, nth).
_SPECIAL: Final = re.compile(r"L|L?W|\d{1,2}W|\d#\d|[a-z]{3}#\d", re.IGNORECASE)


def cron_problems(expression: str, zone: object = "UTC") -> list[str]:
    """Why `expression` is not a schedule a window can use (empty when it is fine): five
    cron fields, each in its range, naming a date that exists, or one of the macros."""
    text = expression.strip()
    shown = f"schedule {expression!r}"
    if text.startswith("@"):
        if text.lower() in _MACROS:
            return []
        return [f"{shown}: {text} is not supported; use one of {', '.join(sorted(_MACROS))}"]
    fields = text.split()
    if len(fields) != 5:
        extra = " (seconds and years are not supported)" if len(fields) > 5 else ""
        count = "1 field" if len(fields) == 1 else f"{len(fields)} fields"
        return [f"{shown} has {count}; {_FIVE_FIELDS}{extra}"]
    from croniter import CroniterBadDateError, croniter

    if not croniter.is_valid(text):
        found = [
            f"{shown}: {problem}"
            for spec, value in zip(_FIELDS, fields, strict=True)
            if (problem := _field_problem(spec, value)) is not None
        ]
        return found or [f"{shown} is not a cron expression; {_FIVE_FIELDS}"]
    try:
        base = dt.datetime(2000, 1, 1, tzinfo=ZoneInfo(zone if isinstance(zone, str) else "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        base = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    try:
        croniter(text, base).get_next(dt.datetime)
    except CroniterBadDateError:
        return [
            f"{shown} never opens: day-of-month '{fields[2]}' does not occur in month '{fields[3]}'"
        ]
    return []


def _field_problem(spec: _Field, value: str) -> str | None:
    """What is wrong with one field, or None when this check cannot tell."""
    shown = f"{spec.name} '{value}'"
    items = value.split(",")
    if any(not item for item in items):
        return f"{shown} has an empty item in its list; {spec.takes}"
    for item in items:
        base, step = item, None
        stepped = _STEP.fullmatch(item)
        if stepped:
            base, step = stepped["base"], stepped["step"]
            if not step.isdigit() or int(step) < 1:
                return f"{shown}: the step after '/' must be a whole number at least 1"
        if base == "*":
            continue
        if base == "":
            return f"{shown}: a step needs something before the '/', e.g. */15; {spec.takes}"
        if base == "?":
            if spec.name in ("day-of-month", "day-of-week"):
                continue
            return f"{shown}: '?' is only allowed in day-of-month and day-of-week"
        if _SPECIAL.fullmatch(base):
            continue
        bounds = base.split("-")
        if len(bounds) > 2 or not all(bounds):
            return (
                f"{shown} is not a number, a range (a-b), a list (a,b), a step (*/n) or *; "
                f"{spec.takes}"
            )
        for bound in bounds:
            number = _value(spec, bound)
            if number is None:
                return f"{shown}: '{bound}' is not a {spec.name}; {spec.takes}"
            if not spec.low <= number <= spec.high:
                return f"{shown} is out of range; {spec.takes}"
    return None


def _value(spec: _Field, text: str) -> int | None:
    if text.isdigit():
        return int(text)
    lowered = text.lower()
    if lowered in spec.names:
        return spec.names.index(lowered) + (spec.low if spec.name == "month" else 0)
    return None


# --- time zones --------------------------------------------------------------------


def time_zone_problem(zone: object) -> str | None:
    """Why `zone` is not an IANA time zone name (with the closest one), or None."""
    if isinstance(zone, str):
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            pass
        else:
            return None
    message = f"timeZone {zone!r} is not a known IANA time zone"
    close = difflib.get_close_matches(str(zone), _zone_names(), n=1, cutoff=0.8)
    if close:
        return f"{message} (did you mean '{close[0]}'?)"
    return f"{message} (e.g. UTC, Europe/Berlin, America/New_York)"


@cache
def _zone_names() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def _problem(
    document: LoadedDocument,
    at: tuple[str | int, ...],
    message: str,
    *,
    missing: bool = False,
) -> WindowProblem:
    diagnostic = Diagnostic("error", message, document.location_of(at), "sync-window")
    return WindowProblem(at, diagnostic, missing)
