"""Who a connector belongs to, and how it is managed: ownership between projects
(`cxrecon.io/project`, `--take-ownership`), renames (`previousNames`) and management
policies (`observe`, `create-only`), applied to the changes the planner builds."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from reconciler.config.policies import Management, Policy
from reconciler.model import (
    LABEL_MANAGED_BY,
    LABEL_PROJECT,
    MANAGED_BY_VALUE,
    DesiredConnector,
    RemoteConnector,
)
from reconciler.plan.changes import (
    Action,
    ConnectorChange,
    RemotePin,
    Step,
    StepKind,
    error_change,
    steps_for,
)
from reconciler.plan.diff import ChangeKind, FieldChange, Origin


def managed(r: RemoteConnector) -> bool:
    return r.spec.labels.get(LABEL_MANAGED_BY) == MANAGED_BY_VALUE


def ours(r: RemoteConnector, project: str | None, previous: frozenset[str] = frozenset()) -> bool:
    """Whether a managed connector is this project's to prune: labelled with its identity or
    one of its `previousProjects`. One stamped before projects existed (no project label) is
    left alone: it may be another team's."""
    if project is None:
        return True
    owner = r.spec.labels.get(LABEL_PROJECT)
    return owner == project or (owner is not None and owner in previous)


def foreign_owner(r: RemoteConnector, project: str | None) -> str | None:
    """The other project that manages `r`, or None when it is ours, legacy or unmanaged."""
    owner = r.spec.labels.get(LABEL_PROJECT)
    if project is None or owner is None or owner == project or not managed(r):
        return None
    return owner


def inherited(owner: str | None, previous: frozenset[str]) -> bool:
    """Whether `owner` is an identity this project had before (`previousProjects`): its
    connectors are taken over as a plan-visible ownership move, without --take-ownership."""
    return owner is not None and owner in previous


def owned_elsewhere(d: DesiredConnector, r: RemoteConnector, owner: str) -> ConnectorChange:
    pin = RemotePin(id=r.id, etag=r.etag, spec=r.spec)
    return error_change(
        d.name,
        f"{d.location_of('name')}: connector {d.name!r} (id {r.id}) is managed by project "
        f"{owner!r}; remove it from this repository, or take it over on purpose with "
        "`--take-ownership` (the audit log records it)",
        desired=d,
        remote=pin,
    )


def management_of(d: DesiredConnector) -> Management | None:
    value = d.management
    return value if value in ("full", "observe", "create-only") else None  # type: ignore[return-value]


def previous_connector(
    d: DesiredConnector,
    present: Mapping[str, list[RemoteConnector]],
    declared: Mapping[str, list[DesiredConnector]],
    project: str | None,
    previous: frozenset[str] = frozenset(),
) -> RemoteConnector | None:
    """The connector in CXone under one of `d`'s previous names, when exactly one is there,
    no other file declares that name, and it is this project's (or unlabelled, or labelled
    with one of its previous identities)."""
    for old in d.previous_names:
        rs = present.get(old, [])
        if len(rs) == 1 and old not in declared:
            owner = foreign_owner(rs[0], project)
            if owner is None or inherited(owner, previous):
                return rs[0]
    return None


def renamed(change: ConnectorChange, old: str) -> ConnectorChange:
    """A change planned against the connector under its old name: one `rename` that PATCHes
    the name along with any other field changes."""
    if change.action is Action.ERROR:
        return change
    name_field = FieldChange(
        path="name",
        parts=("name",),
        kind=ChangeKind.CHANGED,
        before=old,
        after=change.name,
        origin=Origin.PENDING,
    )
    steps = change.steps
    if not any(s.kind is StepKind.PATCH for s in steps):
        steps = steps_for(("labels",), change.transition, adopt=False)
    return dataclasses.replace(
        change,
        action=Action.RENAME,
        fields=(name_field, *change.fields),
        steps=steps,
        rename_from=old,
        origin=change.origin or Origin.PENDING,
    )


def observed_missing(d: DesiredConnector) -> ConnectorChange:
    return ConnectorChange(
        name=d.name,
        action=Action.OBSERVE,
        desired=d,
        note="observed (management: observe): not in CXone, and cxrecon never creates it",
    )


def managed_as(change: ConnectorChange, policy: Policy) -> ConnectorChange:
    """`observe`: differences are reported as drift, never written. `create-only`: once it
    exists, never updated."""
    if policy.management == "full" or not change.action.writes:
        return change
    if policy.management == "create-only":
        return ConnectorChange(
            name=change.name,
            action=Action.NOOP,
            desired=change.desired,
            remote=change.remote,
            note="create-only: cxrecon created it and never updates it",
        )
    fields = tuple(dataclasses.replace(f, origin=Origin.DRIFT) for f in change.fields)
    return ConnectorChange(
        name=change.name,
        action=Action.OBSERVE,
        desired=change.desired,
        remote=change.remote,
        fields=fields,
        credentials=change.credentials,
        transition=change.transition,
        origin=Origin.DRIFT if fields else None,
        note="observed (management: observe): differences are reported, never written",
    )


def taken_over(change: ConnectorChange, owner: str) -> ConnectorChange:
    """A connector another project managed, planned for this one: at least one write, which
    moves the ownership label, and it is shown as a takeover."""
    steps = change.steps or steps_for(("labels",), None, adopt=False)
    action = change.action if change.action is not Action.NOOP else Action.UPDATE
    return dataclasses.replace(change, action=action, steps=steps, previous_owner=owner)


def orphan_change(r: RemoteConnector, prune: bool) -> ConnectorChange:
    """A managed connector of this project no longer in git: listed, or deactivated under
    `--prune` (never deleted)."""
    pin = RemotePin(id=r.id, etag=r.etag, spec=r.spec)
    have = r.spec.lifecycle_status
    if not prune or have == "INACTIVE":
        return ConnectorChange(name=r.name, action=Action.ORPHAN, remote=pin, orphaned=True)
    field = FieldChange(
        path="lifecycleStatus",
        parts=("lifecycleStatus",),
        kind=ChangeKind.CHANGED,
        before=have,
        after="INACTIVE",
        origin=Origin.PENDING,
    )
    return ConnectorChange(
        name=r.name,
        action=Action.DEACTIVATE,
        remote=pin,
        fields=(field,),
        steps=(Step(StepKind.TRANSITION, target="INACTIVE"),),
        transition=(have, "INACTIVE"),
        origin=Origin.PENDING,
        orphaned=True,
    )
