"""The status page's rows about the controller itself: its recent cycles, the sync windows
that apply to this environment, and the connectors waiting out a backoff."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.config.durations import format_duration
from reconciler.controller.page.connectors import connector_href
from reconciler.controller.page.context import Context
from reconciler.controller.page.cycles import CycleSummary
from reconciler.controller.page.repolink import Commit, commit_of
from reconciler.controller.page.times import Moment, moment, seconds_text


@dataclass(frozen=True, slots=True)
class CycleRow:
    number: int
    started: Moment
    result: str
    duration: str
    commit: Commit | None
    detail: str
    phases: str = ""


@dataclass(frozen=True, slots=True)
class WindowRow:
    label: str
    kind: str
    schedule: str
    scope: str
    open: bool
    change: str
    change_at: Moment | None


@dataclass(frozen=True, slots=True)
class BackoffRow:
    name: str
    href: str
    failures: int
    retry_in: str
    last_error: str | None


def cycle_rows(cycles: Sequence[CycleSummary], ctx: Context) -> tuple[CycleRow, ...]:
    rows = []
    for s in cycles:
        if s.error:
            detail = s.error
        else:
            detail = (
                f"{s.connectors} connectors, {s.pending} not in sync, {s.drifted} drifted, "
                f"{s.writes} writes"
            )
            if s.pull_ok is False and s.pull_message:
                detail += f"; {s.pull_message}"
            if s.interrupted:
                detail += "; interrupted by shutdown"
        rows.append(
            CycleRow(
                number=s.number,
                started=moment(s.started, ctx.now),
                result=s.result.value,
                duration=seconds_text(s.duration),
                commit=commit_of(s.commit, ctx.repo),
                detail=detail,
                phases=" · ".join(f"{name} {seconds_text(sec)}" for name, sec in s.phases),
            )
        )
    return tuple(rows)


def last_cycle_row(ctx: Context) -> CycleRow | None:
    """The latest cycle of the history as a row (None before the first)."""
    return cycle_rows([ctx.history.latest(1)[0]], ctx)[0] if len(ctx.history) else None


def window_rows(ctx: Context) -> tuple[WindowRow, ...]:
    rows = []
    for w in ctx.windows:
        if w.environments and (ctx.environment is None or ctx.environment not in w.environments):
            continue
        span = w.active_span(ctx.now)
        if span is not None:
            change_at = span[1]
            change = "closes"
        else:
            change_at = w.next_start(ctx.now)
            change = "opens"
        scope = ", ".join(w.connectors) if w.connectors else "all connectors"
        rows.append(
            WindowRow(
                label=w.description or w.schedule,
                kind=w.kind,
                schedule=f"{w.schedule} for {format_duration(w.duration.total_seconds())} "
                f"({w.timezone})",
                scope=scope,
                open=span is not None,
                change=change,
                change_at=moment(change_at, ctx.now),
            )
        )
    return tuple(rows)


def backoff_rows(ctx: Context, prefix: str = "") -> tuple[BackoffRow, ...]:
    return tuple(
        BackoffRow(
            name=b.name,
            href=connector_href(b.name, prefix),
            failures=b.failures,
            retry_in=format_duration(b.remaining) if b.remaining > 0 else "next cycle",
            last_error=b.last_error,
        )
        for b in sorted(ctx.backoff, key=lambda b: b.name)
    )
