"""Times and durations as the status page words them: a moment (ISO, UTC text, `3 min ago`),
coarse spans for people, short durations, and the applied-at label read back as a time."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Final

from reconciler.config.durations import format_duration

_COMPACT_STAMP: Final = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$")


@dataclass(frozen=True, slots=True)
class Moment:
    """A point in time: `iso` for <time datetime>, `text` in UTC, `ago` relative to now."""

    iso: str
    text: str
    ago: str


def moment(when: dt.datetime, now: dt.datetime) -> Moment:
    utc = when.astimezone(dt.UTC)
    return Moment(
        iso=utc.isoformat(timespec="seconds"),
        text=utc.strftime("%Y-%m-%d %H:%M:%S UTC"),
        ago=ago(now - utc),
    )


def ago(delta: dt.timedelta) -> str:
    """`just now`, `3 min ago`, `2 h 5 min ago`; a time still to come reads `in 6 h 17 min`."""
    seconds = delta.total_seconds()
    if seconds < -60:  # later than now by more than clock skew: a time still to come
        return "in " + span(-seconds)
    if seconds < 5:
        return "just now"
    return span(seconds) + " ago"


def span(seconds: float) -> str:
    """A coarse duration for people: `40 s`, `12 min`, `2 h 5 min`, `3 d 4 h`."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min"
    if whole < 86400:
        hours, minutes = divmod(whole // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(whole // 3600, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def seconds_text(seconds: float) -> str:
    """`250ms`, `1.4s`, `12s`, `5m3s`."""
    if 1 <= seconds < 10:
        return f"{seconds:.1f}s"
    return format_duration(seconds)


def label_time(value: str | None) -> dt.datetime | None:
    """The applied-at label (`20250602T120000Z`, or ISO) as a time."""
    if not value:
        return None
    match = _COMPACT_STAMP.match(value)
    if match:
        y, mo, d, h, mi, s = (int(g) for g in match.groups())
        try:
            return dt.datetime(y, mo, d, h, mi, s, tzinfo=dt.UTC)
        except ValueError:
            return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
