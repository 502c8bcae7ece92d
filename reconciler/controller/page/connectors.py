"""How one connector shows on the status page: its row in the overview (state, plan, lifecycle,
last applied, file link) and, for its detail page, the plan's field lines and its audit and
sync history.

Every value here is text or numbers; the templates escape all of it (autoescape). Field values
go through reconciler.plan.diff.safe_values / format_value, the same masking as the plan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from reconciler.apply.results import Outcome
from reconciler.config.durations import format_duration
from reconciler.controller.page.audit_view import AuditEntry
from reconciler.controller.page.context import Context
from reconciler.controller.page.repolink import Commit, commit_of
from reconciler.controller.page.states import State, connector_state, lifecycle_words
from reconciler.controller.page.times import Moment, label_time, moment
from reconciler.controller.report import ConnectorReport
from reconciler.plan.diff import ChangeKind, FieldChange, Origin, format_value, safe_values

#: Longest value a diff cell shows.
VALUE_LIMIT: Final = 200
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


def connector_href(name: str, prefix: str = "") -> str:
    """The detail page of `name`, relative to the page it is linked from."""
    return f"{prefix}connectors/{quote(name, safe='')}"


# --- rows --------------------------------------------------------------------------------


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


def state_of(c: ConnectorReport, ctx: Context) -> State:
    """The words for one connector of the report (reconciler.controller.page.states)."""
    return connector_state(
        action=c.action.value,
        origin=None if c.origin is None else c.origin.value,
        decision=c.decision.value,
        outcome=None if c.result is None else c.result.outcome.value,
        deleted=c.deleted,
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
