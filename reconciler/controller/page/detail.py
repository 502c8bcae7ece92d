"""A connector's detail page on the status page (`/connectors/NAME`): its row, the plan's field
lines, whether a sync window lets it change now, its backoff, audit and sync history."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler import __version__
from reconciler.config.windows import evaluate
from reconciler.controller.page.connectors import (
    AuditRow,
    ConnectorRow,
    FieldRow,
    SyncRow,
    audit_rows,
    connector_row,
    facts_of,
    field_rows,
    sync_rows,
)
from reconciler.controller.page.context import Context, environment_name
from reconciler.controller.page.controller_rows import (
    BackoffRow,
    CycleRow,
    backoff_rows,
    last_cycle_row,
)
from reconciler.controller.page.times import Moment, moment


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


def build_detail(ctx: Context, name: str) -> Detail | None:
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
        cycle=last_cycle_row(ctx),
    )
