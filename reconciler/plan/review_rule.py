"""The one rule for what a reviewed change may write, field by field, and the change that
writes only that: used by a stale saved plan's review (plan.reviewed) and by the narrowing
after a conflict (apply.narrow), so both write, hold and leave the same fields.

Each field is judged from four values: what CXone held when the change was reviewed (`base`),
what the reviewed change sets it to (`reviewed`; for a field it does not change, git's value
then), and what CXone and git hold now. In this order:

- git now wants something other than what was reviewed: **hold** (`differs` for a field the
  review changes, `not reviewed` for one it did not: a commit after the review);
- CXone already holds git's value: nothing to write (**in line**);
- a field the review did not change, changed in CXone since: **leave** it (not written; it
  shows as drift afterwards);
- a reviewed field CXone changed since the review: **hold** (both sides changed it);
- otherwise **write** it.

One field held holds the whole connector: nothing is written for it.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from reconciler.model import ALLOWED_TRANSITIONS
from reconciler.plan.changes import Action, ConnectorChange, RemotePin, steps_for
from reconciler.plan.diff import diff_essences
from reconciler.plan.essence import NOT_PATCHED, Essence, EssenceDoc, changed_sections

Parts = tuple[str, ...]


class _Absent:
    """A field one side does not have (distinct from a JSON null)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final[Any] = _Absent()


class Ruling(Enum):
    WRITE = "write"
    IN_LINE = "in line"
    HOLD = "hold"
    LEAVE = "leave"


class HoldReason(Enum):
    """Why a field holds its connector; the value is how a message names it."""

    CHANGED_IN_CXONE = "changed in CXone since the review"
    NOT_REVIEWED = "not reviewed"
    DIFFERS = "differs"


@dataclass(frozen=True, slots=True)
class FieldSides:
    """One field on every side a reviewed write is judged by (values as the plan shows them)."""

    path: str
    parts: Parts
    #: The reviewed change writes this field.
    shown: bool
    #: CXone's value when the change was reviewed (ABSENT: none).
    base: Any
    #: What the reviewed change sets the field to; git's value then for a field it leaves.
    reviewed: Any
    cxone: Any
    git: Any


@dataclass(frozen=True, slots=True)
class Decision:
    field: FieldSides
    ruling: Ruling
    why: HoldReason | None = None


def decide(field: FieldSides) -> Decision:
    """The rule above, for one field."""
    if field.git != field.reviewed:
        why = HoldReason.DIFFERS if field.shown else HoldReason.NOT_REVIEWED
        return Decision(field, Ruling.HOLD, why)
    if field.cxone == field.git:
        return Decision(field, Ruling.IN_LINE)
    if not field.shown:
        return Decision(field, Ruling.LEAVE)
    if field.cxone != field.base:
        return Decision(field, Ruling.HOLD, HoldReason.CHANGED_IN_CXONE)
    return Decision(field, Ruling.WRITE)


@dataclass(frozen=True, slots=True)
class Judged:
    """Every field of one connector's change, decided."""

    decisions: tuple[Decision, ...]

    def ruled(self, ruling: Ruling) -> tuple[FieldSides, ...]:
        return tuple(d.field for d in self.decisions if d.ruling is ruling)

    @property
    def held(self) -> bool:
        return any(d.ruling is Ruling.HOLD for d in self.decisions)

    @property
    def left(self) -> tuple[str, ...]:
        """Fields CXone changed that nobody reviewed writing: not written (drift)."""
        return tuple(f.path for f in self.ruled(Ruling.LEAVE))

    def held_paths(self, why: HoldReason) -> tuple[str, ...]:
        return tuple(d.field.path for d in self.decisions if d.why is why)

    def reasons(self) -> tuple[str, ...]:
        """`changed in CXone since the review: description`, … one per kind of hold."""
        out = []
        for why in HoldReason:
            paths = self.held_paths(why)
            if paths:
                out.append(f"{why.value}: {', '.join(paths)}")
        return tuple(out)


def judge(fields: Iterable[FieldSides]) -> Judged:
    return Judged(tuple(decide(f) for f in fields))


def covered(parts: Parts, shown: Iterable[Parts]) -> bool:
    """Whether a field at `parts` is one of `shown`, inside one, or holds one: a field the
    reviewed change writes (whole, or in part) is judged as the change showed it."""
    return any(parts[: len(p)] == p or p[: len(parts)] == parts for p in shown)


def value_at(doc: Any, parts: Parts) -> Any:
    """The value at `parts` of an essence document, or ABSENT."""
    node = doc
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return ABSENT
        node = node[part]
    return node


def written(now: Essence, want: Essence, fields: Iterable[FieldSides]) -> EssenceDoc:
    """CXone's document `now` with each of `fields` set to git's value in `want`."""
    target: EssenceDoc = copy.deepcopy(now.doc)
    for field in fields:
        node: Any = target
        for part in field.parts[:-1]:
            node = node.setdefault(part, {})
        value = value_at(want.doc, field.parts)
        if value is ABSENT:
            node.pop(field.parts[-1], None)
        else:
            node[field.parts[-1]] = copy.deepcopy(value)
    return target


def writes_credentials(change: ConnectorChange) -> bool:
    return any("authentication" in step.sections for step in change.steps)


def recreated(reviewed_id: str, current_id: str, since: str) -> str:
    """How the connector under the reviewed name is another one than the review changed
    (deleted and created again in CXone, perhaps with the same fields and labels) since the
    `since` ("review", "plan"): "" when it is the same one. It is held, never written."""
    if current_id == reviewed_id:
        return ""
    return f"deleted and re-created in CXone since the {since}: {reviewed_id} is now {current_id}"


def refused(change: ConnectorChange, why: str, pin: RemotePin | None = None) -> ConnectorChange:
    """`change` as a failure that writes nothing, saying `why`."""
    return ConnectorChange(
        name=change.name,
        action=Action.ERROR,
        desired=change.desired,
        remote=pin if pin is not None else change.remote,
        problems=(why,),
    )


def narrowed(
    shown: ConnectorChange,
    replanned: ConnectorChange,
    pin: RemotePin,
    now: Essence,
    target_doc: EssenceDoc,
) -> ConnectorChange:
    """The change that takes CXone from `now` (as `pin`) to `target_doc` and nothing else:
    `shown` is the reviewed change (its name, desired connector, adoption, orphan state),
    `replanned` the change planned against `now` (its credential check, origins, ignore-rule
    essences). ERROR when CXone moved the lifecycle where the API allows no way on."""
    target = Essence(name=now.name, doc=target_doc, owned_labels=now.owned_labels)
    sections = tuple(s for s in changed_sections(now, target) if s not in NOT_PATCHED)
    if writes_credentials(shown) and "authentication" not in sections:
        check = replanned.credentials
        if check is not None and check.will_write:
            sections = (*sections, "authentication")
    transition = None if now.lifecycle == target.lifecycle else (now.lifecycle, target.lifecycle)
    if transition is not None and transition[1] not in ALLOWED_TRANSITIONS.get(
        transition[0], frozenset()
    ):
        why = f"CXone moved it to {now.lifecycle} since the plan; {transition[0]} → "
        why += f"{transition[1]} is not allowed. Run `cxrecon plan`, then apply again"
        return refused(shown, why, pin)
    origins = {f.path: f.origin for f in replanned.fields}
    fields = tuple(
        dataclasses.replace(f, origin=origins.get(f.path, f.origin))
        for f in diff_essences(now, target)
    )
    # The fields kept may all have one origin where the whole change had several.
    kept = {f.origin for f in fields if f.origin is not None}
    origin = kept.pop() if len(kept) == 1 else replanned.origin
    if sections:
        action = Action.UPDATE if shown.action is not Action.ADOPT else Action.ADOPT
    elif transition is not None:
        action = Action.ACTIVATE if transition[1] == "ACTIVE" else Action.DEACTIVATE
    else:
        action = Action.NOOP
    return ConnectorChange(
        name=shown.name,
        action=action,
        desired=shown.desired,
        remote=pin,
        fields=fields,
        steps=steps_for(sections, transition, adopt=False) if action is not Action.NOOP else (),
        credentials=replanned.credentials,
        transition=transition,
        origin=origin,
        orphaned=shown.orphaned,
        target=target,
        # Under ignore rules: what the applied-digest records is git's state with the
        # ignored fields left out, as for the change that was shown.
        effective=replanned.effective,
        compared=replanned.compared,
    )
