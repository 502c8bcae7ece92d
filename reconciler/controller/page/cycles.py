"""The last cycles, for the page's table and chart: a bounded ring of small summaries of the
CycleReports the controller published (the reports themselves stay the controller's)."""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from reconciler.controller.report import CycleReport, CycleResult

#: Cycles remembered: 12 hours at the shortest sensible interval of one minute.
KEEP: Final = 720


@dataclass(frozen=True, slots=True)
class CycleSummary:
    number: int
    started: dt.datetime
    duration: float
    result: CycleResult
    commit: str | None
    connectors: int
    pending: int
    drifted: int
    writes: int
    error: str | None
    pull_ok: bool | None
    pull_message: str | None
    interrupted: bool
    #: Seconds per phase (pull, plan, apply, …) when the report carries them.
    phases: tuple[tuple[str, float], ...] = ()

    @property
    def finished(self) -> dt.datetime:
        return self.started + dt.timedelta(seconds=self.duration)


def summarize(report: CycleReport) -> CycleSummary:
    return CycleSummary(
        number=report.number,
        started=report.started,
        duration=report.duration,
        result=report.result,
        commit=report.commit,
        connectors=len(report.connectors),
        pending=len(report.pending),
        drifted=report.drifted,
        writes=report.writes,
        error=report.error,
        pull_ok=None if report.pull is None else report.pull.ok,
        pull_message=None if report.pull is None else report.pull.message,
        interrupted=report.interrupted,
        phases=phases_of(report),
    )


def phases_of(report: CycleReport) -> tuple[tuple[str, float], ...]:
    """`report.phases` ({phase: seconds}) when the controller records them, else ()."""
    phases = getattr(report, "phases", None)
    if not isinstance(phases, Mapping):
        return ()
    return tuple(
        (str(name), float(seconds))
        for name, seconds in phases.items()
        if isinstance(seconds, int | float) and not isinstance(seconds, bool)
    )


class CycleHistory:
    """Summaries by cycle number; adding a cycle twice keeps one."""

    def __init__(self, keep: int = KEEP) -> None:
        self._items: deque[CycleSummary] = deque(maxlen=keep)
        self._numbers: set[int] = set()

    def add(self, report: CycleReport | None) -> None:
        if report is None or report.number in self._numbers:
            return
        if len(self._items) == self._items.maxlen:
            self._numbers.discard(self._items[0].number)
        self._items.append(summarize(report))
        self._numbers.add(report.number)

    def copy(self) -> CycleHistory:
        """An independent copy (a page renders it in a worker thread meanwhile)."""
        out = CycleHistory(self._items.maxlen or KEEP)
        out._items.extend(self._items)
        out._numbers.update(self._numbers)
        return out

    def __iter__(self) -> Iterator[CycleSummary]:
        """Oldest first."""
        return iter(sorted(self._items, key=lambda s: s.number))

    def __len__(self) -> int:
        return len(self._items)

    def latest(self, count: int) -> list[CycleSummary]:
        """The last `count` cycles, newest first."""
        return sorted(self._items, key=lambda s: s.number, reverse=True)[:count]

    def since(self, moment: dt.datetime) -> list[CycleSummary]:
        """Cycles started at or after `moment`, oldest first."""
        return [s for s in self if s.started >= moment]
