"""A change's steps as the executor sends them: folded (a label refresh rides on the
transition), the labels each write carries, the sections and field paths it writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from reconciler.model import (
    LABEL_APPLIED_AT,
    LABEL_APPLIED_DIGEST,
    LABEL_MANAGED_BY,
    LABEL_PROJECT,
    MANAGED_BY_VALUE,
    DesiredConnector,
    RemoteConnector,
)
from reconciler.plan.changes import Action, ConnectorChange, RemotePin, Step, StepKind
from reconciler.plan.essence import SECTIONS, Essence, applied_digest


def pin_of(remote: RemoteConnector) -> RemotePin:
    return RemotePin(id=remote.id, etag=remote.etag, spec=remote.spec)


def fold(steps: Sequence[Step]) -> tuple[Step, ...]:
    """Drop a PATCH that only refreshes labels when a transition is made anyway: the
    transition carries the labels, so an activation costs one write, a create two."""
    has_transition = any(s.kind is StepKind.TRANSITION for s in steps)
    return tuple(
        s for s in steps if not (s.kind is StepKind.PATCH and not s.sections and has_transition)
    )


def step_labels(project: str | None, desired: Essence | None, last: bool) -> dict[str, str]:
    """The labels a write carries: cxrecon's and the project's; the last write of a change
    also what it applied, and when."""
    labels = {LABEL_MANAGED_BY: MANAGED_BY_VALUE}
    if project is not None:
        labels[LABEL_PROJECT] = project
    # The digest of what was applied goes on the last write only: a run stopped half-way
    # then reads as "not yet applied" (pending) rather than as drift.
    if last and desired is not None:
        labels[LABEL_APPLIED_DIGEST] = applied_digest(desired)
        # Label values cannot hold ':'; the compact ISO 8601 basic form is what drift shows.
        labels[LABEL_APPLIED_AT] = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return labels


def sections_of(step: Step) -> set[str]:
    """The essence sections a step writes."""
    if step.kind is StepKind.CREATE:
        return set(SECTIONS)
    if step.kind is StepKind.TRANSITION:
        return {"lifecycleStatus"}
    return set(step.sections)


def desired_of(change: ConnectorChange) -> tuple[DesiredConnector, Essence]:
    """The desired connector a create or PATCH writes, and its essence."""
    essence = change.desired_essence
    if change.desired is None or essence is None:
        raise RuntimeError(f"{change.name}: no desired state to write")
    return change.desired, essence


def field_paths(change: ConnectorChange, sections: tuple[str, ...]) -> tuple[str, ...]:
    """The field paths a PATCH of `sections` writes, as its audit record names them."""
    paths = [f.path for f in change.fields if f.section in sections]
    if "authentication" in sections and not any(p.startswith("authentication") for p in paths):
        paths.append("authentication.credentials")
    return tuple(paths)


def patch_verb(change: ConnectorChange) -> str:
    return "adopt" if change.action is Action.ADOPT else "update"
