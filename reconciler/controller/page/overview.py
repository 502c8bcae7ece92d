"""The status page's overview (`/`): every connector sorted by urgency with the counts by
state, the controller's mode, cycles, sync windows and backoff, and the last hours' charts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from reconciler import __version__
from reconciler.config.durations import format_duration
from reconciler.controller.page.charts import (
    Chart,
    SyncBucket,
    cycle_chart,
    sync_buckets,
    sync_chart,
)
from reconciler.controller.page.connectors import (
    ConnectorRow,
    connector_href,
    connector_row,
    state_of,
)
from reconciler.controller.page.context import Context, environment_name
from reconciler.controller.page.controller_rows import (
    BackoffRow,
    CycleRow,
    WindowRow,
    backoff_rows,
    cycle_rows,
    last_cycle_row,
    window_rows,
)
from reconciler.controller.page.states import State, Tone
from reconciler.controller.page.times import Moment, moment
from reconciler.controller.report import ControllerOptions

#: Hours the charts cover.
CHART_HOURS: Final = 6
#: Cycles listed in the controller's table.
CYCLES_LISTED: Final = 10
#: Connectors the overview lists unless asked for all (`?show=all`): the most urgent first.
ROWS: Final = 500


@dataclass(frozen=True)
class Counts:
    total: int = 0
    ok: int = 0
    info: int = 0
    attention: int = 0
    by_state: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Overview:
    environment: str
    generated: Moment
    ready: bool
    readiness: str
    mode: str
    interval: str
    last: CycleRow | None
    connectors: tuple[ConnectorRow, ...]
    #: Rows left out past the row limit (the most urgent are listed first).
    unlisted: int
    counts: Counts
    cycles: tuple[CycleRow, ...]
    windows: tuple[WindowRow, ...]
    windows_problem: str | None
    backoff: tuple[BackoffRow, ...]
    charts: tuple[Chart, ...]
    sync_table: tuple[tuple[str, int, int, int], ...]
    cycle_table: tuple[CycleRow, ...]
    audit_problem: str | None
    audit_truncated: bool
    pull_failures: int
    stopping: bool
    version: str = __version__
    #: The `policies:` of cxrecon.yaml the last cycle's plan breaks, errors first.
    violations: tuple[PolicyRow, ...] = ()


def readiness_words(why: str) -> str:
    """The controller's readiness reason without its leading `ready: ` / `not ready: `."""
    for prefix in ("ready: ", "not ready: "):
        if why.startswith(prefix):
            return why.removeprefix(prefix)
    return why


def mode_words(options: ControllerOptions) -> str:
    if options.dry_run:
        return "Dry run: plans and reports, never writes"
    if options.self_heal:
        return "Applies git's changes and reverts changes made in CXone (self-heal)"
    return "Applies git's changes; reports changes made in CXone"


_ORDER: Final = {Tone.BAD: 0, Tone.WARN: 1, Tone.INFO: 2, Tone.OK: 3}


def build_overview(
    ctx: Context, *, attention_only: bool = False, limit: int | None = ROWS
) -> Overview:
    """The overview; rows sorted by urgency then name, at most `limit` of them (None: all)."""
    last = ctx.last
    states = [] if last is None else [(c, state_of(c, ctx)) for c in last.connectors]
    states.sort(key=lambda pair: (_ORDER[pair[1].tone], pair[0].name.casefold(), pair[0].name))
    counts = _counts([state for _, state in states])
    listed = [pair for pair in states if pair[1].tone.attention] if attention_only else states
    shown = listed if limit is None else listed[:limit]
    rows = [connector_row(c, ctx, state=state) for c, state in shown]
    since = ctx.now - dt.timedelta(hours=CHART_HOURS)
    recent = ctx.history.since(since)
    buckets = sync_buckets(ctx.audit.syncs, ctx.now, CHART_HOURS)
    return Overview(
        environment=environment_name(ctx),
        generated=moment(ctx.now, ctx.now),
        ready=ctx.ready,
        readiness=readiness_words(ctx.readiness),
        mode=mode_words(ctx.options),
        interval=format_duration(ctx.options.interval),
        last=last_cycle_row(ctx),
        connectors=tuple(rows),
        unlisted=len(listed) - len(shown),
        counts=counts,
        cycles=cycle_rows(ctx.history.latest(CYCLES_LISTED), ctx),
        windows=window_rows(ctx),
        windows_problem=ctx.windows_problem,
        backoff=backoff_rows(ctx),
        charts=(cycle_chart(recent, CHART_HOURS), sync_chart(buckets, CHART_HOURS)),
        sync_table=_sync_table(buckets),
        cycle_table=cycle_rows(list(reversed(recent[-CYCLES_LISTED * 6 :])), ctx),
        audit_problem=ctx.audit.problem,
        audit_truncated=ctx.audit.truncated,
        pull_failures=ctx.pull_failures,
        stopping=ctx.stopping,
        violations=_policy_rows(ctx),
    )


@dataclass(frozen=True)
class PolicyRow:
    policy: str
    severity: str
    connector: str
    href: str
    message: str


def _policy_rows(ctx: Context) -> tuple[PolicyRow, ...]:
    found = () if ctx.last is None else ctx.last.violations
    ordered = sorted(found, key=lambda v: (v.severity != "error", v.connector, v.policy))
    return tuple(
        PolicyRow(v.policy, v.severity, v.connector, connector_href(v.connector), v.message)
        for v in ordered[:ROWS]
    )


def _counts(states: Sequence[State]) -> Counts:
    by_state: dict[str, int] = {}
    for state in states:
        by_state[state.label] = by_state.get(state.label, 0) + 1
    return Counts(
        total=len(states),
        ok=sum(1 for state in states if state.tone is Tone.OK),
        info=sum(1 for state in states if state.tone is Tone.INFO),
        attention=sum(1 for state in states if state.tone.attention),
        by_state=dict(sorted(by_state.items())),
    )


def _sync_table(buckets: Sequence[SyncBucket]) -> tuple[tuple[str, int, int, int], ...]:
    """The sync chart's numbers as a table: hour (UTC), completed, failed, other."""
    return tuple(
        (
            f"{b.start.strftime('%H:%M')}–"
            f"{(b.start + dt.timedelta(hours=1)).strftime('%H:%M')} UTC",
            b.completed,
            b.failed,
            b.other,
        )
        for b in buckets
    )
