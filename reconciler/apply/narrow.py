"""After a conflict: cut the re-planned write down to what was reviewed, by the one
reviewed-write rule (reconciler.plan.review_rule) a stale saved plan is held to as well.

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

from dataclasses import dataclass

from reconciler.model import LABEL_MANAGED_BY, LABEL_PROJECT, RemoteConnector
from reconciler.plan.changes import Action, ConnectorChange, RemotePin
from reconciler.plan.diff import diff_essences, format_path
from reconciler.plan.essence import essence_of
from reconciler.plan.review_rule import (
    FieldSides,
    Parts,
    Ruling,
    covered,
    judge,
    narrowed,
    recreated,
    refused,
    value_at,
    writes_credentials,
    written,
)


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
    """`replanned` (the connector planned again against `fresh`) cut down to `reviewed`, by
    the reviewed-write rule (reconciler.plan.review_rule): git is what the plan saw, so a
    field is written, in line, held (both sides changed it) or left."""
    if reviewed.orphaned and reviewed.transition is not None:
        return _orphan(reviewed, fresh, replanned)
    if reviewed.action in (Action.CREATE, Action.ORPHAN) or reviewed.remote is None:
        # A create showed every field it sets; an orphan left alone writes nothing.
        return Narrowed(replanned)
    if reviewed.desired is None or reviewed.desired_essence is None:
        return Narrowed(replanned)
    if fresh is None:
        why = "deleted in CXone since the plan; run `cxrecon plan` to see it, then apply again"
        return Narrowed(refused(reviewed, why), conflicts=("(deleted)",))
    moved = _moved(reviewed, reviewed.remote, fresh)
    if moved:
        why = f"{moved}; nothing was written for it. Run `cxrecon plan` to see it, then apply again"
        return Narrowed(refused(reviewed, why, _pin(fresh)), conflicts=(moved,))
    seen = reviewed.remote.essence
    now = essence_of(fresh.spec)
    want = reviewed.desired_essence
    parts = reviewed_parts(reviewed)
    if writes_credentials(reviewed):
        parts.add(("authentication",))
    judged = judge(
        [
            FieldSides(
                path=format_path(list(path)),
                parts=path,
                shown=True,
                base=value_at(seen.doc, path),
                reviewed=value_at(want.doc, path),
                cxone=value_at(now.doc, path),
                git=value_at(want.doc, path),
            )
            for path in sorted(parts)
        ]
        + [
            FieldSides(
                path=f.path,
                parts=f.parts,
                shown=False,
                base=value_at(want.doc, f.parts),
                reviewed=value_at(want.doc, f.parts),
                cxone=value_at(now.doc, f.parts),
                git=value_at(want.doc, f.parts),
            )
            for f in diff_essences(now, want)
            if not covered(f.parts, parts)
        ]
    )
    pin = _pin(fresh)
    left = judged.left
    conflicts = tuple(f.path for f in judged.ruled(Ruling.HOLD))
    if conflicts:
        fields = ", ".join(conflicts)
        why = (
            f"changed in CXone since the plan: {fields}; nothing was written for it. Run "
            "`cxrecon plan` to see both sides, then apply again"
        )
        return Narrowed(refused(reviewed, why, pin), conflicts, left)
    target = written(now, want, judged.ruled(Ruling.WRITE))
    return Narrowed(narrowed(reviewed, replanned, pin, now, target), (), left)


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
    return Narrowed(refused(reviewed, why, _pin(fresh)), ("lifecycleStatus",))


def _moved(reviewed: ConnectorChange, seen: RemotePin, fresh: RemoteConnector) -> str:
    """How the connector the plan showed is no longer that connector, or no longer ours as
    it was (the id, the name, cxrecon's ownership labels): "" when it still is. The change
    shown wrote that connector, under that name, for that owner; nothing else was reviewed.
    What the shown change itself moves (a rename, an adoption, a take-over) may already be
    done: a write whose answer was lost, or an earlier step of this change, landed."""
    if fresh.id != seen.id:
        return recreated(seen.id, fresh.id, "plan")
    if fresh.spec.name not in (seen.spec.name, reviewed.name):
        return f"renamed in CXone since the plan: {seen.spec.name} → {fresh.spec.name}"
    if reviewed.action is Action.ADOPT or reviewed.previous_owner is not None:
        return ""
    was, now = seen.spec.labels, fresh.spec.labels
    owner = [k for k in (LABEL_MANAGED_BY, LABEL_PROJECT) if k in was and now.get(k) != was[k]]
    return f"changed in CXone since the plan: labels {', '.join(owner)}" if owner else ""


def _pin(fresh: RemoteConnector) -> RemotePin:
    return RemotePin(id=fresh.id, etag=fresh.etag, spec=fresh.spec)
