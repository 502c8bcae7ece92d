"""The page's two small charts as geometry for inline SVG (the template draws it; no script):
cycle durations coloured by result, and CRM data-sync outcomes per hour.

Colour is never the only cue: a partial cycle carries a dot above its bar, a failed one a
cross, every bar has a <title>, and the page lists the same figures in a table.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from reconciler.controller.page.audit_view import AuditEntry
from reconciler.controller.page.cycles import CycleSummary

#: The viewBox; the SVG scales to its column, about 1:1 on a desktop (text stays readable).
WIDTH: Final = 480
HEIGHT: Final = 170
#: Room for the y-axis labels on the left and the x-axis labels below.
LEFT: Final = 50
BOTTOM: Final = 24
TOP: Final = 14
RIGHT: Final = 8
#: At most this many cycles are drawn (the newest).
MAX_CYCLES: Final = 120


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str  # CSS class suffix: success, partial, failed, completed, other
    title: str


@dataclass(frozen=True, slots=True)
class Marker:
    x: float
    y: float
    kind: str  # "dot" or "cross"


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    title: str
    summary: str
    unit: str
    bars: tuple[Bar, ...] = ()
    markers: tuple[Marker, ...] = ()
    y_ticks: tuple[Tick, ...] = ()
    x_ticks: tuple[Tick, ...] = ()
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom: int = HEIGHT - BOTTOM
    right: int = WIDTH - RIGHT

    @property
    def empty(self) -> bool:
        return not self.bars


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above `value` (1 for nothing)."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        candidate = step * 10.0**exponent
        if candidate >= value * (1 - 1e-9):
            return candidate
    return 10.0 ** (exponent + 1)  # pragma: no cover - the loop always returns


def _seconds(value: float) -> str:
    if 0 < value < 1:
        return f"{value * 1000:.0f}ms"
    if value >= 60:
        minutes, seconds = divmod(round(value), 60)
        return f"{minutes}m{seconds:02d}s" if seconds else f"{minutes}m"
    if value >= 10 or value == round(value):
        return f"{value:.0f}s"
    return f"{value:.3g}s"


def _clock(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%H:%M")


def cycle_chart(cycles: Sequence[CycleSummary], hours: int) -> Chart:
    """One bar per cycle (oldest left), its height the cycle's wall time."""
    shown = list(cycles)[-MAX_CYCLES:]
    title = f"Cycle durations, last {hours} hours"
    if not shown:
        return Chart(title, "No cycle finished in this period.", "seconds")
    top = nice_ceiling(max(c.duration for c in shown))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(shown), 12)
    width = max(1.5, slot * 0.7)
    bars: list[Bar] = []
    markers: list[Marker] = []
    for i, c in enumerate(shown):
        height = max(1.5, plot_h * min(c.duration, top) / top)
        x = LEFT + i * slot + (slot - width) / 2
        y = TOP + plot_h - height
        kind = c.result.value
        title_text = f"cycle {c.number} at {_clock(c.started)} UTC: {kind}, {_seconds(c.duration)}"
        bars.append(
            Bar(round(x, 2), round(y, 2), round(width, 2), round(height, 2), kind, title_text)
        )
        if kind == "partial":
            markers.append(Marker(round(x + width / 2, 2), round(y - 6, 2), "dot"))
        elif kind == "failed":
            markers.append(Marker(round(x + width / 2, 2), round(y - 6, 2), "cross"))
    counts = {
        k: sum(1 for c in shown if c.result.value == k) for k in ("success", "partial", "failed")
    }
    longest = max(shown, key=lambda c: c.duration)
    summary = (
        f"{len(shown)} cycles: {counts['success']} succeeded, {counts['partial']} partial, "
        f"{counts['failed']} failed; the longest took {_seconds(longest.duration)} "
        f"(cycle {longest.number})."
    )
    y_ticks = tuple(
        Tick(round(TOP + plot_h - plot_h * f, 2), _seconds(top * f)) for f in (0.0, 0.5, 1.0)
    )
    x_ticks = (
        Tick(LEFT, f"{_clock(shown[0].started)} (#{shown[0].number})"),
        Tick(WIDTH - RIGHT, f"{_clock(shown[-1].started)} (#{shown[-1].number})"),
    )
    return Chart(title, summary, "seconds", tuple(bars), tuple(markers), y_ticks, x_ticks)


@dataclass(frozen=True, slots=True)
class SyncBucket:
    start: dt.datetime
    completed: int
    failed: int
    other: int

    @property
    def total(self) -> int:
        return self.completed + self.failed + self.other


def sync_buckets(syncs: Sequence[AuditEntry], now: dt.datetime, hours: int) -> list[SyncBucket]:
    """Data syncs per hour over the last `hours` hours, oldest first (the last one open)."""
    end = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    starts = [end - dt.timedelta(hours=hours - i) for i in range(hours)]
    counts = [[0, 0, 0] for _ in starts]
    first = starts[0]
    for entry in syncs:
        if not first <= entry.time < end:
            continue
        index = int((entry.time - first).total_seconds() // 3600)
        status = entry.sync_status
        column = 0 if status == "COMPLETED" else 1 if (status == "FAILED" or not entry.ok) else 2
        counts[index][column] += 1
    return [SyncBucket(s, *c) for s, c in zip(starts, counts, strict=True)]


def sync_chart(buckets: Sequence[SyncBucket], hours: int) -> Chart:
    """Stacked bars per hour: completed (bottom), failed, other (pending, timed out)."""
    title = f"CRM data syncs per hour, last {hours} hours"
    total = sum(b.total for b in buckets)
    if not buckets or total == 0:
        return Chart(title, "No CRM data sync in this period.", "syncs")
    top = max(2.0, nice_ceiling(max(b.total for b in buckets)))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / len(buckets)
    width = slot * 0.7
    bars: list[Bar] = []
    markers: list[Marker] = []
    for i, b in enumerate(buckets):
        x = round(LEFT + i * slot + (slot - width) / 2, 2)
        base = float(TOP + plot_h)
        when = f"{_clock(b.start)}–{_clock(b.start + dt.timedelta(hours=1))} UTC"
        for count, kind, words in (
            (b.completed, "completed", "completed"),
            (b.failed, "failed", "failed"),
            (b.other, "other", "pending or unknown"),
        ):
            if count == 0:
                continue
            height = plot_h * count / top
            base -= height
            bars.append(
                Bar(
                    x,
                    round(base, 2),
                    round(width, 2),
                    round(height, 2),
                    kind,
                    f"{when}: {count} {words}",
                )
            )
        if b.failed:
            markers.append(Marker(round(x + width / 2, 2), round(base - 6, 2), "cross"))
    failed = sum(b.failed for b in buckets)
    completed = sum(b.completed for b in buckets)
    summary = (
        f"{total} data syncs: {completed} completed, {failed} failed, "
        f"{total - completed - failed} pending or unknown."
    )
    y_ticks = tuple(
        Tick(round(TOP + plot_h - plot_h * f, 2), f"{top * f:g}")
        for f in (0.0, 0.5, 1.0)
        if (top * f).is_integer()  # counts: whole numbers only
    )
    x_ticks = (
        Tick(LEFT, _clock(buckets[0].start)),
        Tick(WIDTH - RIGHT, _clock(buckets[-1].start + dt.timedelta(hours=1))),
    )
    return Chart(title, summary, "syncs", tuple(bars), tuple(markers), y_ticks, x_ticks)
