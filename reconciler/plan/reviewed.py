"""A fresh plan held against the reviewed one: what was reviewed, and what was not.

When the reviewed plan (a saved plan: the artifact of a pull request's plan job) is stale
by the time it is applied (git moved on, or CXone changed a connector it pinned), the
apply can plan afresh and still write only what a reviewer saw (Atlantis's plan of record).
Each connector the fresh plan would change is compared with the reviewed plan's entry for
it, as the reviewer saw it: the action, the lifecycle transition, every field's before and
after value (masked as shown), the rename and the ownership move. Credential status is
not compared: a pull request's plan runs without connector secrets (`unknown`), the apply
with them; what is written is still the reference git holds.

- `as_reviewed`: the same change; it may be applied under the reviewed plan's approval.
- `unreviewed`: a change the reviewed plan did not have for that connector (a UI edit the
  fresh plan would revert, a commit that reached main after the review); held.
- `differs`: the reviewed plan changed that connector, but not this way; held.
- `dropped`: reviewed, but the fresh plan no longer needs it (done since, or reverted).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from reconciler.plan.changes import Action, ConnectorChange, Plan, SafetyVerdict
from reconciler.plan.document import change_document

#: Keys of a change's document that say what is written (the rest is where and how).
_SHOWN_KEYS: Final = ("action", "transition", "renamedFrom", "previousOwner", "orphaned")
#: Keys of a field's document that say what it becomes.
_FIELD_KEYS: Final = ("path", "kind", "before", "after")


def signature(document: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a reviewer saw of one connector's change (a change document, as in the plan
    JSON): comparable across runs, ids, ETags and file locations left out."""
    fields = sorted(
        (tuple(repr(field.get(k)) for k in _FIELD_KEYS))
        for field in document.get("fields") or ()
        if not field.get("secret")
    )
    return (*(repr(document.get(k)) for k in _SHOWN_KEYS), tuple(fields))


@dataclass(frozen=True, slots=True)
class Held:
    """A change of the fresh plan that is not applied, and why (said to the user)."""

    change: ConnectorChange
    reason: str


@dataclass(frozen=True)
class Review:
    """The fresh plan's changes sorted by what the reviewed plan says of them."""

    as_reviewed: tuple[ConnectorChange, ...]
    held: tuple[Held, ...]
    dropped: tuple[str, ...]

    @property
    def complete(self) -> bool:
        """Every change of the fresh plan was reviewed as it is."""
        return not self.held


def review(reviewed: Mapping[str, Mapping[str, Any]], fresh: Plan) -> Review:
    """Sort `fresh`'s changes by the reviewed plan's change documents (by connector name)."""
    as_reviewed: list[ConnectorChange] = []
    held: list[Held] = []
    seen: set[str] = set()
    for change in fresh.changed():
        seen.add(change.name)
        shown = reviewed.get(change.name)
        now = change_document(change)
        if shown is None:
            held.append(Held(change, f"not in the reviewed plan: {_what(now)}"))
        elif signature(shown) == signature(now):
            as_reviewed.append(change)
        else:
            held.append(Held(change, f"differs from the reviewed plan ({_difference(shown, now)})"))
    dropped = tuple(sorted(name for name in reviewed if name not in seen))
    return Review(tuple(as_reviewed), tuple(held), dropped)


def _what(document: Mapping[str, Any]) -> str:
    """`update: description, syncSettings.batchSize` — the action and the fields it sets."""
    paths = [str(f.get("path")) for f in document.get("fields") or ()]
    transition = document.get("transition")
    if transition:
        paths.append(f"lifecycle {transition.get('from')} → {transition.get('to')}")
    return f"{document.get('action')}" + (f": {', '.join(paths)}" if paths else "")


def _difference(shown: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    """What differs between the reviewed change and the fresh one, by field path: values
    CXone changed since the review, changes the review did not show, and the rest."""
    if shown.get("action") != now.get("action"):
        return f"reviewed {shown.get('action')}, now {now.get('action')}"
    before = _by_path(shown.get("fields") or ())
    after = _by_path(now.get("fields") or ())
    moved, unshown, other = [], [], []
    for path in sorted(before.keys() | after.keys()):
        was, found = before.get(path), after.get(path)
        if was == found:
            continue
        if was is None:
            unshown.append(path)
        elif found is not None and (was[1], was[3]) == (found[1], found[3]):
            # Same path, kind and new value: only the value CXone holds moved.
            moved.append(path)
        else:
            other.append(path)
    if shown.get("transition") != now.get("transition"):
        other.append("lifecycle")
    other += [k for k in ("renamedFrom", "previousOwner", "orphaned") if shown.get(k) != now.get(k)]
    parts = []
    if moved:
        parts.append("changed in CXone since the review: " + ", ".join(moved))
    if unshown:
        parts.append("not reviewed: " + ", ".join(unshown))
    if other:
        parts.append("differs: " + ", ".join(other))
    return "; ".join(parts) if parts else "the change"


def _by_path(fields: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, ...]]:
    return {
        str(f.get("path")): tuple(repr(f.get(k)) for k in _FIELD_KEYS)
        for f in fields
        if not f.get("secret")
    }


def reviewed_part(fresh: Plan, verdict: Review, safety: SafetyVerdict) -> Plan:
    """`fresh` with only the changes that are as reviewed, judged by the reviewed plan's
    safety verdict (its approval over the gate covers these, and only these)."""
    keep = {c.name for c in verdict.as_reviewed}
    changes = tuple(c for c in fresh.changes if c.action is Action.NOOP or c.name in keep)
    return dataclasses.replace(fresh, changes=changes, safety=safety, held=len(verdict.held))
