"""Checking a sync window's schedule: a cron expression (five fields or a macro such as
@daily) and an IANA time zone, with messages that name the field that is wrong and what it
takes (or the closest zone name)."""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from functools import cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

_MACROS: Final = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


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
