"""After a conflict or an unsettled write: re-read one connector, plan it again from what the
tenant has now (apply.narrow then keeps only what was shown), and describe for the audit log
what someone else changed meanwhile."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from reconciler.apply.audit_records import AuditEvent, ObservedChange, observed_changes
from reconciler.apply.narrow import Narrowed
from reconciler.cxone.errors import Conflict, CxoneApiError, NotFound
from reconciler.model import RemoteConnector
from reconciler.plan.build import build_plan
from reconciler.plan.changes import Action, ConnectorChange
from reconciler.plan.diff import diff_essences
from reconciler.plan.document import every_value
from reconciler.plan.essence import essence_of

if TYPE_CHECKING:
    from reconciler.apply.context import ExecContext


class Reader(Protocol):
    async def get_connector(self, connector_id: str) -> RemoteConnector: ...

    async def find_by_name(self, name: str) -> list[RemoteConnector]: ...


async def reread(client: Reader, change: ConnectorChange) -> RemoteConnector | None:
    """The connector as it is now: by id, else by name (it may have been created by a write
    whose answer was lost, or deleted meanwhile); None when it does not exist."""
    if change.remote is not None:
        try:
            return await client.get_connector(change.remote.id)
        except NotFound:
            pass
    found = await client.find_by_name(change.name)
    if len(found) > 1:
        ids = ", ".join(r.id for r in found)
        raise Conflict(
            f"{len(found)} connectors named {change.name!r} exist (ids {ids})",
            operation="apply",
            hint="rename or deactivate all but one in CXone, then run apply again",
        )
    return found[0] if found else None


def plan_one(
    ctx: ExecContext, change: ConnectorChange, fresh: RemoteConnector | None
) -> ConnectorChange:
    """The same planner as the whole run, for one connector against its fresh state."""
    plan = build_plan(
        [change.desired] if change.desired is not None else [],
        [fresh] if fresh is not None else [],
        limits=ctx.limits,
        checker=ctx.checker,
        desired_digest=ctx.desired_digest,
        prune=ctx.prune or change.orphaned,
        environment=ctx.environment,
        project=ctx.project,
        take_ownership=change.previous_owner is not None,
        policies=ctx.policies,
    )
    for replanned in plan.changes:
        if replanned.name == change.name:
            return replanned
    # An orphan deleted meanwhile: nothing is left to deactivate.
    return ConnectorChange(name=change.name, action=Action.NOOP, orphaned=change.orphaned)


def replan_event(
    change: ConnectorChange,
    fresh: RemoteConnector | None,
    narrowed: Narrowed,
    cause: CxoneApiError,
    replans: int,
    *,
    moved: bool,
) -> AuditEvent:
    """The audit record of one re-plan: what we had seen, what we found, what happens next
    (`change` is the change as planned and shown; `narrowed` what may be written now)."""
    replanned = narrowed.change
    seen = change.remote
    observed: tuple[ObservedChange, ...] = ()
    if seen is not None and fresh is not None:
        found = diff_essences(seen.essence, essence_of(fresh.spec))
        observed = observed_changes((f.path, f.before, f.after) for f in found)
    elif fresh is not None:
        # A create found the name taken meanwhile: every value there is the other writer's.
        found_all = every_value(essence_of(fresh.spec))
        observed = observed_changes((f.path, None, f.after) for f in found_all)
    overwrites = sorted({f.path for f in replanned.fields} & {o.path for o in observed})
    if narrowed.conflicts:
        resolution = "refused: changed in CXone since the plan: " + ", ".join(narrowed.conflicts)
    elif replanned.action in (Action.NOOP, Action.ORPHAN):
        resolution = "already in the desired state"
    elif fresh is None:
        resolution = "gone; planned again from scratch"
    else:
        resolution = f"planned again: {replanned.action.value}"
    details: dict[str, Any] = {
        "resolution": resolution,
        "replan": replans,
        # Fields another writer changed that the shown plan changes too, from the value the
        # plan saw (only possible when the other writer had put that value back).
        "overwrites": ", ".join(overwrites) or None,
        # Fields another writer changed that the plan did not show: left as they are (drift).
        "left": ", ".join(narrowed.left) or None,
    }
    return AuditEvent(
        connector=change.name,
        connector_id=fresh.id if fresh else (seen.id if seen else None),
        action="conflict" if moved else "reread",
        result="conflict" if moved else "failure",
        fields=tuple(o.path for o in observed),
        etag_before=seen.etag if seen else None,
        etag_after=fresh.etag if fresh else None,
        http_status=cause.status,
        attempts=replans,
        error_class=type(cause).__name__,
        error_message=cause.summary,
        out_of_band=observed,
        details=details,
        kind="note",  # what a re-read found: no write of its own
    )
