"""After a conflict: cut the re-planned write down to what was reviewed.

A re-read after a 409/412 (or a write whose fate is unknown) finds the connector as it is
now. Planning it again from scratch would write everything git and CXone now disagree on,
including edits someone made in the CXone UI that nobody reviewed. The rule instead:

- a write carries only fields of the change being applied (the plan that was shown: a
  saved, reviewed plan, or the plan printed before the prompt, which includes the drift
  `--self-heal` showed);
- each such field is written only where CXone still holds what the plan saw (or already
  holds git's value, then nothing is written for it);
- a reviewed field that CXone changed to something else is a conflict: the connector fails
  with "changed in CXone since the plan: FIELD" and nothing is written for it;
- every other field changed in CXone is left as it is, and shows as drift afterwards.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from reconciler.model import ALLOWED_TRANSITIONS, RemoteConnector
from reconciler.plan.changes import Action, ConnectorChange, RemotePin, steps_for
from reconciler.plan.diff import diff_essences, format_path
from reconciler.plan.essence import NOT_PATCHED, Essence, EssenceDoc, changed_sections, essence_of

_ABSENT: Final = object()
Parts = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Narrowed:
    """The change that may be written now, and what was held back."""

    change: ConnectorChange
    #: Reviewed fields CXone changed to something else since the plan (the connector fails).
    conflicts: tuple[str, ...] = ()
    #: Fields changed in CXone that the plan did not show: left as they are (drift).
    left: tuple[str, ...] = ()


def reviewed_parts(reviewed: ConnectorChange) -> set[Parts]:
    """The field paths the plan showed for this connector (the lifecycle as one)."""
    parts = {f.parts for f in reviewed.fields}
    if reviewed.transition is not None:
        parts.add(("lifecycleStatus",))
    return parts


def narrow(
    reviewed: ConnectorChange, fresh: RemoteConnector | None, replanned: ConnectorChange
) -> Narrowed:
    """`replanned` (the connector planned again against `fresh`) cut down to `reviewed`."""
    if reviewed.orphaned and reviewed.transition is not None:
        return _orphan(reviewed, fresh, replanned)
    if reviewed.action in (Action.CREATE, Action.ORPHAN) or reviewed.remote is None:
        # A create showed every field it sets; an orphan left alone writes nothing.
        return Narrowed(replanned)
    if reviewed.desired is None or reviewed.desired_essence is None:
        return Narrowed(replanned)
    if fresh is None:
        why = "deleted in CXone since the plan; run `cxrecon plan` to see it, then apply again"
        return Narrowed(_refused(reviewed, why), conflicts=("(deleted)",))
    seen = reviewed.remote.essence
    now = essence_of(fresh.spec)
    want = reviewed.desired_essence
    parts = reviewed_parts(reviewed)
    writes_credentials = _writes_credentials(reviewed)
    if writes_credentials:
        parts.add(("authentication",))
    target: EssenceDoc = copy.deepcopy(now.doc)
    conflicts: list[str] = []
    for path in sorted(parts):
        was, is_now, wanted = _get(seen.doc, path), _get(now.doc, path), _get(want.doc, path)
        if is_now == wanted:
            continue
        if is_now != was:
            conflicts.append(format_path(list(path)))
            continue
        _put(target, path, wanted)
    left = _unreviewed(now, want, parts)
    if conflicts:
        fields = ", ".join(conflicts)
        why = (
            f"changed in CXone since the plan: {fields}; nothing was written for it. Run "
            "`cxrecon plan` to see both sides, then apply again"
        )
        return Narrowed(_refused(reviewed, why, fresh), tuple(conflicts), left)
    return Narrowed(_rebuild(reviewed, replanned, fresh, now, target), (), left)


def _rebuild(
    reviewed: ConnectorChange,
    replanned: ConnectorChange,
    fresh: RemoteConnector,
    now: Essence,
    target_doc: EssenceDoc,
) -> ConnectorChange:
    target = Essence(name=now.name, doc=target_doc, owned_labels=now.owned_labels)
    sections = tuple(s for s in changed_sections(now, target) if s not in NOT_PATCHED)
    if _writes_credentials(reviewed) and "authentication" not in sections:
        check = replanned.credentials
        if check is not None and check.will_write:
            sections = (*sections, "authentication")
    transition = None if now.lifecycle == target.lifecycle else (now.lifecycle, target.lifecycle)
    if transition is not None and transition[1] not in ALLOWED_TRANSITIONS.get(
        transition[0], frozenset()
    ):
        why = f"CXone moved it to {now.lifecycle} since the plan; {transition[0]} → "
        why += f"{transition[1]} is not allowed. Run `cxrecon plan`, then apply again"
        return _refused(reviewed, why, fresh)
    origins = {f.path: f.origin for f in replanned.fields}
    fields = tuple(
        dataclasses.replace(f, origin=origins.get(f.path, f.origin))
        for f in diff_essences(now, target)
    )
    if sections:
        action = Action.UPDATE if reviewed.action is not Action.ADOPT else Action.ADOPT
    elif transition is not None:
        action = Action.ACTIVATE if transition[1] == "ACTIVE" else Action.DEACTIVATE
    else:
        action = Action.NOOP
    return ConnectorChange(
        name=reviewed.name,
        action=action,
        desired=reviewed.desired,
        remote=RemotePin(id=fresh.id, etag=fresh.etag, spec=fresh.spec),
        fields=fields,
        steps=steps_for(sections, transition, adopt=False) if action is not Action.NOOP else (),
        credentials=replanned.credentials,
        transition=transition,
        origin=replanned.origin,
        orphaned=reviewed.orphaned,
        target=target,
        # Under ignore rules: what the applied-digest records is git's state with the
        # ignored fields left out, as for the change that was shown.
        effective=replanned.effective,
        compared=replanned.compared,
    )


def _orphan(
    reviewed: ConnectorChange, fresh: RemoteConnector | None, replanned: ConnectorChange
) -> Narrowed:
    """A shown deactivation of an orphan (`--prune`): written only while CXone still has
    the lifecycle the plan saw, or already the one it moves to."""
    assert reviewed.transition is not None
    seen, wanted = reviewed.transition
    if fresh is None:
        return Narrowed(replanned)  # gone: nothing is left to deactivate
    now = essence_of(fresh.spec).lifecycle
    if now in (seen, wanted):
        return Narrowed(replanned)
    why = (
        f"changed in CXone since the plan: lifecycleStatus ({seen} → {now}); nothing was "
        "written for it. Run `cxrecon plan` to see it, then apply again"
    )
    return Narrowed(_refused(reviewed, why, fresh), ("lifecycleStatus",))


def _refused(
    reviewed: ConnectorChange, why: str, fresh: RemoteConnector | None = None
) -> ConnectorChange:
    remote = reviewed.remote
    if fresh is not None:
        remote = RemotePin(id=fresh.id, etag=fresh.etag, spec=fresh.spec)
    return ConnectorChange(
        name=reviewed.name,
        action=Action.ERROR,
        desired=reviewed.desired,
        remote=remote,
        problems=(why,),
    )


def _writes_credentials(change: ConnectorChange) -> bool:
    return any("authentication" in step.sections for step in change.steps)


def _unreviewed(now: Essence, want: Essence, reviewed: Iterable[Parts]) -> tuple[str, ...]:
    """Paths where CXone and git differ now that the plan did not show."""
    shown = set(reviewed)

    def covered(parts: Parts) -> bool:
        return any(parts[: len(p)] == p or p[: len(parts)] == parts for p in shown)

    return tuple(f.path for f in diff_essences(now, want) if not covered(f.parts))


def _get(doc: Any, parts: Parts) -> Any:
    node = doc
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return _ABSENT
        node = node[part]
    return node


def _put(doc: Any, parts: Parts, value: Any) -> None:
    node = doc
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    if value is _ABSENT:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = copy.deepcopy(value)
