"""The plan: what apply will do to each connector, why, and whether it passes the safety gate.

`build_plan` matches desired and remote connectors by name, diffs their essences and
turns each pair into one `ConnectorChange` with the ordered steps apply executes.

Actions (one per connector; sorted by this order, then by name):

    error       cannot be planned (duplicate name, back to DRAFT, changed connectorType,
                owned by another tool); says what to do instead; nothing is written
    create      POST as DRAFT, then the lifecycle step if ACTIVE/INACTIVE is desired
    adopt       declared in git, exists without the managed-by label: stamp the label and
                apply its field changes (and lifecycle step)
    update      PATCH of the changed fields; a lifecycle change rides along as a step
    activate    only the lifecycle changes, to ACTIVE
    deactivate  only the lifecycle changes, to INACTIVE (also: an orphan under --prune)
    orphan      managed by cxrecon, no longer in git; listed, never deleted
    no-op       in sync (credentials may still be `unknown`: apply compares them again)

A connector neither declared in git nor labelled managed-by=cxrecon is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Final, Protocol

from reconciler.celpolicy.evaluate import Violation
from reconciler.model import LABEL_MANAGED_BY, MANAGED_BY_VALUE, ConnectorSpec, DesiredConnector
from reconciler.plan.applied import Applied
from reconciler.plan.credentials import CredentialCheck
from reconciler.plan.diff import FieldChange, Origin
from reconciler.plan.essence import (
    Essence,
    essence_of,
    state_hash,
)

__all__ = [
    "Action",
    "ConnectorChange",
    "Plan",
    "RemotePin",
    "SafetyLimitsLike",
    "SafetyVerdict",
    "Step",
    "StepKind",
]


class Action(StrEnum):
    """What happens to one connector. Declaration order is the plan's sort order."""

    ERROR = "error"
    CREATE = "create"
    RENAME = "rename"  # a connector listed under `previousNames`: PATCH of `name` (+ fields)
    ADOPT = "adopt"
    UPDATE = "update"
    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"
    ORPHAN = "orphan"
    OBSERVE = "observe"  # `management: observe`: differences are reported, never written
    NOOP = "no-op"

    @property
    def order(self) -> int:
        return _ACTION_ORDER[self]

    @property
    def writes(self) -> bool:
        """Whether apply sends anything for this action."""
        return self not in (Action.ERROR, Action.ORPHAN, Action.OBSERVE, Action.NOOP)


_ACTION_ORDER: Final = {action: i for i, action in enumerate(Action)}
_PHRASES: Final = {
    Action.CREATE: "to create",
    Action.RENAME: "to rename",
    Action.ADOPT: "to adopt",
    Action.UPDATE: "to update",
    Action.ACTIVATE: "to activate",
    Action.DEACTIVATE: "to deactivate",
    Action.ORPHAN: "orphaned",
    Action.OBSERVE: "observed",
    Action.ERROR: "in error",
    Action.NOOP: "unchanged",
}


class StepKind(StrEnum):
    CREATE = "create"  # POST the desired essence as DRAFT (+ owned labels)
    PATCH = "patch"  # merge-patch of `Step.sections` (+ owned labels), with If-Match
    TRANSITION = "transition"  # PATCH {"lifecycleStatus": target} (+ owned labels), If-Match


@dataclass(frozen=True, slots=True)
class Step:
    """One API call apply makes, in order. Each later step uses the ETag the previous returned."""

    kind: StepKind
    sections: tuple[str, ...] = ()  # PATCH: top-level fields the merge-patch carries
    target: str | None = None  # TRANSITION: the lifecycle state to move to

    def describe(self) -> str:
        if self.kind is StepKind.TRANSITION:
            return f"transition to {self.target}"
        if self.kind is StepKind.PATCH:
            return "patch " + ", ".join(self.sections) if self.sections else "patch labels"
        return "create as DRAFT"


@dataclass(frozen=True)
class RemotePin:
    """The remote state a change was computed from: apply sends `etag` as If-Match and a
    saved plan compares `state_hash` (sha256 of the normalized state) to detect staleness.

    The essence is rebuilt on first use, so the many unchanged connectors of a large
    tenant do not keep one in memory.
    """

    id: str
    etag: str
    spec: ConnectorSpec

    @cached_property
    def essence(self) -> Essence:
        return essence_of(self.spec)

    @cached_property
    def state_hash(self) -> str:
        return state_hash(self.essence)

    @property
    def lifecycle(self) -> str:
        return self.spec.lifecycle_status

    @property
    def managed(self) -> bool:
        return self.spec.labels.get(LABEL_MANAGED_BY) == MANAGED_BY_VALUE


@dataclass(frozen=True)
class ConnectorChange:
    """Everything apply needs to execute one connector's change, step by step.

    `desired` keeps secret references unresolved; apply resolves them right before it
    builds a body with `create_body` / `patch_body` and passes the values in. `target`,
    when set, is what a PATCH writes instead of the desired essence: after a conflict,
    apply.narrow keeps CXone's current value for every field the plan did not show.
    """

    name: str
    action: Action
    desired: DesiredConnector | None = None
    remote: RemotePin | None = None
    fields: tuple[FieldChange, ...] = ()
    steps: tuple[Step, ...] = ()
    credentials: CredentialCheck | None = None
    transition: tuple[str, str] | None = None  # (from, to) lifecycle
    origin: Origin | None = None  # pending / drift / conflict, over all fields
    orphaned: bool = False
    problems: tuple[str, ...] = ()  # for ERROR: what is wrong and what to do instead
    target: Essence | None = None
    #: The project that managed this connector before a `--take-ownership` plan.
    previous_owner: str | None = None
    #: The name in CXone when this change renames the connector (`previousNames`).
    rename_from: str | None = None
    #: With ignore rules: what a write sends (CXone's values for ignored fields) and what is
    #: digested (ignored fields taken out); None: the desired essence for both.
    effective: Essence | None = None
    compared: Essence | None = None
    #: Why a change that writes nothing is what it is (observe, create-only).
    note: str | None = None
    #: For a create: cxrecon applied this connector before and it is gone from CXone (what is
    #: known of it); the create re-creates it.
    deleted: Applied | None = None

    @property
    def sort_key(self) -> tuple[int, str]:
        return (self.action.order, self.name)

    @cached_property
    def desired_essence(self) -> Essence | None:
        if self.effective is not None:
            return self.effective
        return None if self.desired is None else essence_of(self.desired.spec)

    @property
    def digest_essence(self) -> Essence | None:
        """What the applied-digest label records (ignored fields left out)."""
        return self.compared if self.compared is not None else self.desired_essence

    def from_override(self, field: FieldChange) -> bool:
        """Whether an environment override in cxrecon.yaml set this field's desired value."""
        overridden = self.desired.overridden if self.desired is not None else ()
        return any(field.parts[: len(p)] == p for p in overridden)

    @property
    def deleted_note(self) -> str | None:
        """What is known of a connector deleted in CXone that this change re-creates."""
        if self.deleted is None:
            return None
        return f"{self.deleted.describe()}; apply re-creates it"

    @property
    def orphan_note(self) -> str | None:
        """What to do about an orphan (managed, no longer in git), or None for others."""
        if self.action is not Action.ORPHAN:
            return None
        if self.remote is not None and self.remote.lifecycle == "INACTIVE":
            return (
                "not in git any more and already INACTIVE; delete it in CXone if it is no "
                "longer needed (cxrecon never deletes)"
            )
        return "not in git any more; plan with --prune to deactivate it"

    @property
    def write_essence(self) -> Essence | None:
        """What a PATCH of this change writes (the desired essence unless narrowed)."""
        return self.target if self.target is not None else self.desired_essence


class SafetyLimitsLike(Protocol):
    """The `safety:` block of cxrecon.yaml (reconciler.config.project.SafetyLimits)."""

    @property
    def max_change_fraction(self) -> float: ...
    @property
    def min_managed(self) -> int: ...
    @property
    def gate_active_deactivation(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class SafetyVerdict:
    """The octoDNS-style gate, informing rather than blocking: apply asks for confirmation
    (or refuses under --auto-approve without --allow-unsafe), `--detailed-exitcode` gives 3."""

    over: bool
    reasons: tuple[str, ...]
    managed: int  # managed connectors found remotely
    modified: int  # of those, updated / (de)activated / pruned
    max_change_fraction: float
    min_managed: int

    @property
    def fraction(self) -> float:
        return self.modified / self.managed if self.managed else 0.0


@dataclass(frozen=True)
class Plan:
    """A sorted tuple of changes plus what they were computed from."""

    changes: tuple[ConnectorChange, ...]
    safety: SafetyVerdict
    desired_digest: str
    environment: str | None = None
    prune: bool = False
    #: The identity the plan was made for (`project:` or CXRECON_PROJECT); None: not set.
    project: str | None = None
    ignored: int = 0  # remote connectors neither declared nor managed: left alone
    ignored_fields: int = 0  # differing fields that ignoreDifferences rules left out
    #: Changes left out because they are not as a reviewed plan showed them (plan.reviewed).
    held: int = 0
    #: `policies:` of cxrecon.yaml this plan breaks (reconciler.celpolicy), by connector.
    violations: tuple[Violation, ...] = ()

    @property
    def summary_text(self) -> str:
        """`Plan: 1 to create, 2 to update, 40 unchanged.` (zero counts left out)."""
        counts = self.summary
        parts = [f"{counts[a]} {_PHRASES[a]}" for a in Action if counts[a] and a is not Action.NOOP]
        if self.deleted:
            # Among the creates: a connector cxrecon applied before that CXone lost.
            at = parts.index(f"{counts[Action.CREATE]} {_PHRASES[Action.CREATE]}")
            parts[at] += f" ({len(self.deleted)} deleted in CXone)"
        if self.held:
            parts.append(f"{self.held} held (not as reviewed)")
        parts.append(f"{counts[Action.NOOP]} unchanged")
        text = "Plan: " + ", ".join(parts) + "."
        if not self.has_changes and not self.has_errors and not self.held:
            text = "No changes. " + text
        return text

    @cached_property
    def summary(self) -> dict[Action, int]:
        counts = dict.fromkeys(Action, 0)
        for change in self.changes:
            counts[change.action] += 1
        return counts

    @property
    def has_changes(self) -> bool:
        return any(change.action.writes for change in self.changes)

    @property
    def has_errors(self) -> bool:
        return any(change.action is Action.ERROR for change in self.changes)

    def exit_code(self, detailed: bool) -> int:
        """1 on any error; with `detailed`: 0 no changes, 2 changes, 3 over the gate."""
        if self.has_errors or any(v.severity == "error" for v in self.violations):
            return 1
        if not detailed or not self.has_changes:
            return 0
        return 3 if self.safety.over else 2

    @property
    def deleted(self) -> tuple[ConnectorChange, ...]:
        """Creates that re-create a connector cxrecon applied before and CXone lost."""
        return tuple(c for c in self.changes if c.deleted is not None)

    def changed(self) -> tuple[ConnectorChange, ...]:
        return tuple(c for c in self.changes if c.action is not Action.NOOP)


def steps_for(
    sections: tuple[str, ...], transition: tuple[str, str] | None, adopt: bool
) -> tuple[Step, ...]:
    steps: list[Step] = []
    if sections or adopt:
        steps.append(Step(StepKind.PATCH, sections=sections))
    if transition is not None:
        step = Step(StepKind.TRANSITION, target=transition[1])
        # Stop a connector before changing it; start one only once it is configured.
        steps.insert(0 if transition[1] == "INACTIVE" else len(steps), step)
    return tuple(steps)


def error_change(
    name: str,
    *problems: str,
    desired: DesiredConnector | None = None,
    remote: RemotePin | None = None,
    fields: tuple[FieldChange, ...] = (),
) -> ConnectorChange:
    return ConnectorChange(
        name=name,
        action=Action.ERROR,
        problems=problems,
        desired=desired,
        remote=remote,
        fields=fields,
    )
