"""What the templates show, as plain frozen values built from the controller's last
CycleReport (the object /status serves), the cycle history, the audit log and the sync windows.

Every value here is text or numbers; the templates escape all of it (autoescape). Field values
go through reconciler.plan.diff.safe_values / format_value, the same masking as the plan.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import quote

from reconciler import __version__
from reconciler.apply.executor import Outcome
from reconciler.config.durations import format_duration
from reconciler.config.windows import SyncWindow, evaluate
from reconciler.controller.page.audit import AuditEntry, AuditView
from reconciler.controller.page.charts import Chart, cycle_chart, sync_buckets, sync_chart
from reconciler.controller.page.history import CycleHistory, CycleSummary
from reconciler.controller.page.repolink import RepoInfo
from reconciler.controller.page.states import State, Tone, connector_state, lifecycle_words
from reconciler.controller.report import ConnectorReport, ControllerOptions, CycleReport
from reconciler.plan.diff import ChangeKind, FieldChange, Origin, format_value, safe_values

#: Hours the charts cover.
CHART_HOURS: Final = 6
#: Cycles listed in the controller's table.
CYCLES_LISTED: Final = 10
#: Connectors the overview lists unless asked for all (`?show=all`): the most urgent first.
ROWS: Final = 500
#: Longest value a diff cell shows.
VALUE_LIMIT: Final = 200
_COMPACT_STAMP: Final = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$")
_ACTIONS: Final = {
    "create": "Create in CXone",
    "adopt": "Take over",
    "update": "Update",
    "activate": "Switch on",
    "deactivate": "Switch off",
    "rename": "Rename",
}
_AUDIT_ACTIONS: Final = {
    "create": "Created",
    "update": "Updated",
    "adopt": "Taken over",
    "activate": "Switched on",
    "deactivate": "Switched off",
    "rename": "Renamed",
    "sync": "CRM data sync",
    "conflict": "Changed meanwhile in CXone",
    "reread": "Read again",
}
_ORIGINS: Final = {
    "pending": "changed in git",
    "drift": "changed in CXone",
    "conflict": "changed in both",
    "unknown": "not applied before",
}


# --- what the report does not carry yet ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectorFacts:
    """Per-connector facts beyond decision/origin/outcome: the plan's field changes, the
    lifecycle and applied-at label CXone had, the connector file and its description.

    Read from the ConnectorReport when it carries them (`changes`, `lifecycle`, `applied_at`,
    `source`, `description`); reports without them give the defaults, and the page falls back
    to the field names, the apply result and the audit log.
    """

    changes: tuple[FieldChange, ...] = ()
    lifecycle: str | None = None
    applied_at: str | None = None
    source: str | None = None
    description: str | None = None
    #: Whether the report carried `changes` (else only field names are known).
    has_changes: bool = False


def facts_of(report: ConnectorReport) -> ConnectorFacts:
    changes = getattr(report, "changes", None)
    has = isinstance(changes, tuple) and all(isinstance(c, FieldChange) for c in changes)
    return ConnectorFacts(
        changes=changes if has and isinstance(changes, tuple) else (),
        lifecycle=_opt_text(getattr(report, "lifecycle", None)),
        applied_at=_opt_text(getattr(report, "applied_at", None)),
        source=_opt_text(getattr(report, "source", None)),
        description=_opt_text(getattr(report, "description", None)),
        has_changes=has,
    )


def _opt_text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


# --- small values ------------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class Commit:
    sha: str
    short: str
    href: str | None


def commit_of(sha: str | None, repo: RepoInfo) -> Commit | None:
    if not sha:
        return None
    return Commit(sha, sha[:12], repo.web.commit_url(sha) if repo.web else None)


def connector_href(name: str, prefix: str = "") -> str:
    """The detail page of `name`, relative to the page it is linked from."""
    return f"{prefix}connectors/{quote(name, safe='')}"


# --- connectors --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Applied:
    when: Moment | None
    commit: Commit | None
    #: Where the time comes from: "audit log" or "label".
    source: str


@dataclass(frozen=True, slots=True)
class FileLink:
    text: str
    href: str | None


@dataclass(frozen=True, slots=True)
class ConnectorRow:
    name: str
    href: str
    state: State
    reason: str | None
    lifecycle: str
    planned: str | None
    fields: tuple[str, ...]
    applied: Applied | None
    file: FileLink | None

    @property
    def attention(self) -> bool:
        return self.state.tone.attention


@dataclass(frozen=True, slots=True)
class FieldRow:
    path: str
    kind: str
    in_cxone: str
    in_git: str
    origin: str | None


@dataclass(frozen=True, slots=True)
class AuditRow:
    when: Moment
    action: str
    result: str
    ok: bool
    fields: str
    commit: Commit | None
    by: str | None
    command: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class SyncRow:
    when: Moment
    kind: str
    status: str
    ok: bool
    records: str
    duration: str
    error: str | None


@dataclass(frozen=True, slots=True)
class Backoff:
    """A connector waiting out its backoff, as the controller's ConnectorBackoff had it."""

    name: str
    failures: int
    remaining: float
    last_error: str | None


@dataclass(frozen=True)
class Context:
    """What the views are built from; one per request."""

    options: ControllerOptions
    environment: str | None
    last: CycleReport | None
    history: CycleHistory
    audit: AuditView
    repo: RepoInfo
    now: dt.datetime
    ready: bool
    readiness: str
    windows: tuple[SyncWindow, ...] = ()
    windows_problem: str | None = None
    connectors_dir: Path | None = None
    backoff: tuple[Backoff, ...] = ()
    pull_failures: int = 0
    cycles_started: int = 0
    stopping: bool = False

    @functools.cached_property
    def connectors_folder(self) -> str | None:
        """The connectors folder relative to the repository root (None: not inside it)."""
        return None if self.connectors_dir is None else self.repo.relative(self.connectors_dir)


def state_of(c: ConnectorReport, ctx: Context) -> State:
    """The words for one connector of the report (reconciler.controller.page.states)."""
    return connector_state(
        action=c.action.value,
        origin=None if c.origin is None else c.origin.value,
        decision=c.decision.value,
        outcome=None if c.result is None else c.result.outcome.value,
        deleted=c.action.value == "create" and ctx.audit.ever_applied(c.name),
    )


def connector_row(
    c: ConnectorReport, ctx: Context, prefix: str = "", state: State | None = None
) -> ConnectorRow:
    facts = facts_of(c)
    state = state or state_of(c, ctx)
    applied = _applied(c, facts, ctx)
    commit = applied.commit.sha if applied and applied.commit else (ctx.last and ctx.last.commit)
    return ConnectorRow(
        name=c.name,
        href=connector_href(c.name, prefix),
        state=state,
        reason=c.reason,
        lifecycle=lifecycle_words(_lifecycle(c, facts, ctx.audit.of(c.name))),
        planned=_planned(c) if state.key not in ("in-sync", "applied") else None,
        fields=c.fields,
        applied=applied,
        file=_file(facts, commit or None, ctx),
    )


def _planned(c: ConnectorReport) -> str | None:
    words = _ACTIONS.get(c.action.value)
    if words is None:
        return None
    if c.action.value in ("update", "adopt", "rename") and c.fields:
        n = len(c.fields)
        return f"{words} {n} field{'s' if n != 1 else ''}"
    return words


def _lifecycle(
    c: ConnectorReport, facts: ConnectorFacts, records: Sequence[AuditEntry]
) -> str | None:
    if c.result is not None and c.result.lifecycle and c.result.outcome is Outcome.APPLIED:
        return c.result.lifecycle
    if facts.lifecycle:
        return facts.lifecycle
    if c.result is not None and c.result.lifecycle:
        return c.result.lifecycle
    if "lifecycleStatus" in c.fields and c.origin is not Origin.PENDING:
        return None  # changed in CXone: what cxrecon last set is not what CXone has now
    for entry in records:  # newest first: the last lifecycle step that succeeded
        if entry.ok and entry.action in ("activate", "deactivate", "create"):
            return {"activate": "ACTIVE", "deactivate": "INACTIVE"}.get(entry.action, "DRAFT")
    return None


def _applied(c: ConnectorReport, facts: ConnectorFacts, ctx: Context) -> Applied | None:
    write = ctx.audit.last_write.get(c.name)
    stamp = label_time(facts.applied_at)
    if write is not None and (stamp is None or write.time >= stamp - dt.timedelta(seconds=5)):
        return Applied(
            moment(write.time, ctx.now), commit_of(write.git_commit, ctx.repo), "audit log"
        )
    if stamp is not None:
        return Applied(moment(stamp, ctx.now), None, "label")
    return None


def _file(facts: ConnectorFacts, commit: str | None, ctx: Context) -> FileLink | None:
    web = ctx.repo.web
    if facts.source:
        rel = ctx.repo.relative(facts.source)
        text = rel or facts.source
        href = web.file_url(commit, rel) if web and commit and rel else None
        return FileLink(text, href)
    folder = ctx.connectors_folder
    if folder is not None and web and commit:
        return FileLink(f"{folder or '.'}/", web.tree_url(commit, folder))
    return None


def field_rows(changes: Sequence[FieldChange]) -> tuple[FieldRow, ...]:
    """The plan's field lines: CXone's value, git's value, secrets masked (safe_values)."""
    rows = []
    for f in changes:
        before, after = safe_values(f)
        rows.append(
            FieldRow(
                path=f.path,
                kind=f.kind.value,
                in_cxone="(absent)"
                if f.kind is ChangeKind.ADDED
                else format_value(before, VALUE_LIMIT),
                in_git="(removed)"
                if f.kind is ChangeKind.REMOVED
                else format_value(after, VALUE_LIMIT),
                origin=None if f.origin is None else _ORIGINS.get(f.origin.value, f.origin.value),
            )
        )
    return tuple(rows)


def audit_rows(entries: Sequence[AuditEntry], ctx: Context) -> tuple[AuditRow, ...]:
    return tuple(
        AuditRow(
            when=moment(e.time, ctx.now),
            action=_AUDIT_ACTIONS.get(e.action, e.action.capitalize()),
            result=e.result,
            ok=e.ok,
            fields=", ".join(e.fields[:8]) + (", …" if len(e.fields) > 8 else ""),
            commit=commit_of(e.git_commit, ctx.repo),
            by=e.user,
            command=e.command,
            error=e.error,
        )
        for e in entries
        if not e.is_sync
    )


def sync_rows(entries: Sequence[AuditEntry], ctx: Context) -> tuple[SyncRow, ...]:
    rows = []
    for e in entries:
        records = e.details.get("recordsProcessed")
        kind = e.details.get("syncType")
        rows.append(
            SyncRow(
                when=moment(e.time, ctx.now),
                kind=str(kind).capitalize() if kind else "—",
                status=e.sync_status.capitalize(),
                ok=e.ok and e.sync_status in ("COMPLETED", "PENDING"),
                records=f"{records:,}" if isinstance(records, int) else "—",
                duration="—" if e.latency_ms is None else format_duration(e.latency_ms / 1000),
                error=e.error,
            )
        )
    return tuple(rows)


# --- the controller ----------------------------------------------------------------------


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


# --- the pages ---------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Detail:
    environment: str
    generated: Moment
    row: ConnectorRow
    description: str | None
    fields: tuple[FieldRow, ...]
    #: Whether `fields` holds values (False: only the names in row.fields are known).
    has_values: bool
    window: str | None
    backoff: BackoffRow | None
    audit: tuple[AuditRow, ...]
    syncs: tuple[SyncRow, ...]
    audit_problem: str | None
    cycle: CycleRow | None
    version: str = __version__


def readiness_words(why: str) -> str:
    """The controller's readiness reason without its leading `ready: ` / `not ready: `."""
    for prefix in ("ready: ", "not ready: "):
        if why.startswith(prefix):
            return why.removeprefix(prefix)
    return why


def environment_name(ctx: Context) -> str:
    return ctx.environment or "default"


def mode_words(options: ControllerOptions) -> str:
    if options.dry_run:
        return "Dry run: plans and reports, never writes"
    if options.self_heal:
        return "Applies git's changes and reverts changes made in CXone (self-heal)"
    return "Applies git's changes; reports changes made in CXone"


_ORDER: Final = {Tone.BAD: 0, Tone.WARN: 1, Tone.INFO: 2, Tone.OK: 3}


def overview(ctx: Context, *, attention_only: bool = False, limit: int | None = ROWS) -> Overview:
    """The overview; rows sorted by urgency then name, at most `limit` of them (None: all)."""
    last = ctx.last
    states = [] if last is None else [(c, state_of(c, ctx)) for c in last.connectors]
    states.sort(key=lambda pair: (_ORDER[pair[1].tone], pair[0].name.casefold(), pair[0].name))
    by_state: dict[str, int] = {}
    for _, state in states:
        by_state[state.label] = by_state.get(state.label, 0) + 1
    counts = Counts(
        total=len(states),
        ok=sum(1 for _, state in states if state.tone is Tone.OK),
        info=sum(1 for _, state in states if state.tone is Tone.INFO),
        attention=sum(1 for _, state in states if state.tone.attention),
        by_state=dict(sorted(by_state.items())),
    )
    listed = [pair for pair in states if pair[1].tone.attention] if attention_only else states
    shown = listed if limit is None else listed[:limit]
    rows = [connector_row(c, ctx, state=state) for c, state in shown]
    since = ctx.now - dt.timedelta(hours=CHART_HOURS)
    recent = ctx.history.since(since)
    buckets = sync_buckets(ctx.audit.syncs, ctx.now, CHART_HOURS)
    last_row = cycle_rows([ctx.history.latest(1)[0]], ctx)[0] if len(ctx.history) else None
    return Overview(
        environment=environment_name(ctx),
        generated=moment(ctx.now, ctx.now),
        ready=ctx.ready,
        readiness=readiness_words(ctx.readiness),
        mode=mode_words(ctx.options),
        interval=format_duration(ctx.options.interval),
        last=last_row,
        connectors=tuple(rows),
        unlisted=len(listed) - len(shown),
        counts=counts,
        cycles=cycle_rows(ctx.history.latest(CYCLES_LISTED), ctx),
        windows=window_rows(ctx),
        windows_problem=ctx.windows_problem,
        backoff=backoff_rows(ctx),
        charts=(cycle_chart(recent, CHART_HOURS), sync_chart(buckets, CHART_HOURS)),
        sync_table=tuple(
            (
                f"{b.start.strftime('%H:%M')}–"
                f"{(b.start + dt.timedelta(hours=1)).strftime('%H:%M')} UTC",
                b.completed,
                b.failed,
                b.other,
            )
            for b in buckets
        ),
        cycle_table=cycle_rows(list(reversed(recent[-CYCLES_LISTED * 6 :])), ctx),
        audit_problem=ctx.audit.problem,
        audit_truncated=ctx.audit.truncated,
        pull_failures=ctx.pull_failures,
        stopping=ctx.stopping,
    )


def detail(ctx: Context, name: str) -> Detail | None:
    """The detail page of connector `name`, or None when the last cycle did not plan it."""
    last = ctx.last
    found = None if last is None else next((c for c in last.connectors if c.name == name), None)
    if found is None:
        return None
    prefix = "../"
    row = connector_row(found, ctx, prefix)
    facts = facts_of(found)
    window = None
    if ctx.windows and not ctx.options.ignore_windows:
        verdict = evaluate(ctx.windows, ctx.now, ctx.environment, name)
        window = ("Changes allowed now: " if verdict.allowed else "Changes blocked now: ") + (
            verdict.reason
        )
    backoff = next((b for b in backoff_rows(ctx, prefix) if b.name == name), None)
    entries = ctx.audit.of(name)
    cycle = cycle_rows([ctx.history.latest(1)[0]], ctx)[0] if len(ctx.history) else None
    return Detail(
        environment=environment_name(ctx),
        generated=moment(ctx.now, ctx.now),
        row=row,
        description=facts.description,
        fields=field_rows(facts.changes),
        has_values=facts.has_changes,
        window=window,
        backoff=backoff,
        audit=audit_rows(entries, ctx),
        syncs=sync_rows([e for e in entries if e.is_sync], ctx),
        audit_problem=ctx.audit.problem,
        cycle=cycle,
    )
