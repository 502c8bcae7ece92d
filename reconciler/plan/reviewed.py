"""A fresh plan held against the reviewed one: what was reviewed, and what was not.

When the reviewed plan (a saved plan: the artifact of a pull request's plan job) is stale
by the time it is applied (git moved on, or CXone changed a connector it pinned), the
apply can plan afresh and still write only what a reviewer saw (Atlantis's plan of record).
Each connector the fresh plan would change is compared with the reviewed plan's entry for
it, as the reviewer saw it: the action, every field's before and after value (the
lifecycle's too; secrets masked, as shown), the rename, the ownership move and the credentials
git holds (`credentialSpec`: a non-secret value by value, a reference by its name — `${env:A}`
is not `${env:B}` —, a literal secret by its salted fingerprint), whether or not the change
writes them: a commit after the review that points a token endpoint elsewhere or swaps the
variable a secret comes from is not as reviewed. The credential *status* is not compared: a
pull request's plan runs without connector secrets (`unknown`), the apply with them; a
rotation behind the same references (the secret store's values changed) is applied and named
as such (`credentials_note`).

Fields are judged by the one reviewed-write rule (reconciler.plan.review_rule), as a write
cut down after a conflict is (apply.narrow): what the reviewed plan showed gives each field's
value in CXone then and the value reviewed; the saved plan's copy of git's connector gives
git's value then for the fields it did not change.

- `as_reviewed`: the change, or the part of it that was reviewed: a field someone changed in
  the CXone UI since, which the review did not change, is left out (drift, said in `left`).
- `held`: a field both sides changed, a value git now wants that was not reviewed (a commit
  that reached main after the review), a connector the reviewed plan did not change whose
  git side may have moved, or anything else it did not show (action, rename, ownership,
  credentials); nothing is written for it.
- `dropped`: reviewed, but the fresh plan no longer needs it (done since, or reverted).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from reconciler.load.references import is_secret_reference
from reconciler.plan.changes import Action, ConnectorChange, Plan, SafetyVerdict
from reconciler.plan.credentials import CredentialStatus, literal_matches
from reconciler.plan.diff import format_path
from reconciler.plan.document import change_document, create_fields, every_value
from reconciler.plan.essence import Essence, comparable, essence_of
from reconciler.plan.review_rule import (
    ABSENT,
    FieldSides,
    Judged,
    Parts,
    Ruling,
    covered,
    judge,
    narrowed,
    recreated,
    value_at,
    writes_credentials,
    written,
)
from reconciler.plan.saved import SavedPlan
from reconciler.secret import is_masked_field, mask_value

#: Keys of a change's document that say whose connector, under which name, is written.
_SHOWN_KEYS: Final = ("renamedFrom", "previousOwner", "orphaned")
#: Actions that change an existing connector field by field (the lifecycle is a field).
_UPDATES: Final = frozenset({Action.UPDATE, Action.ACTIVATE, Action.DEACTIVATE})


class _Unknown:
    """git's value at the review, for a field of a connector the saved plan has no copy of:
    equal to nothing, so such a field is never taken as reviewed."""

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return 0


@dataclass(frozen=True, slots=True)
class Held:
    """A change of the fresh plan that is not applied, and why (said to the user)."""

    change: ConnectorChange
    reason: str


@dataclass(frozen=True, slots=True)
class Left:
    """Fields of one connector someone changed in CXone since the review that no reviewed
    change writes: not written, they show as drift afterwards."""

    name: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Review:
    """The fresh plan's changes sorted by what the reviewed plan says of them."""

    as_reviewed: tuple[ConnectorChange, ...]
    held: tuple[Held, ...]
    dropped: tuple[str, ...]
    left: tuple[Left, ...] = ()

    @property
    def complete(self) -> bool:
        """Every change of the fresh plan was reviewed as it is."""
        return not self.held


def review(saved: SavedPlan, fresh: Plan) -> Review:
    """Sort `fresh`'s changes by the reviewed plan `saved` (its change documents, by name)."""
    as_reviewed: list[ConnectorChange] = []
    held: list[Held] = []
    left: list[Left] = []
    dropped: list[str] = []
    seen: set[str] = set()
    then = {e.name: e.desired.spec for e in saved.entries if e.desired is not None}
    pinned = {e.name: e.remote.id for e in saved.entries if e.remote is not None}
    same_git = saved.desired_digest == fresh.desired_digest
    for change in fresh.changed():
        seen.add(change.name)
        shown = saved.shown.get(change.name)
        if shown is None:
            judged = _unreviewed(change) if same_git else None
            if judged is None or judged.held:
                what = _what(change_document(change))
                held.append(Held(change, f"not in the reviewed plan: {what}"))
            else:
                left.append(Left(change.name, judged.left))
            continue
        now = change_document(change)
        credentials = credential_differences(shown, change)
        reviewed_id = pinned.get(change.name)
        outline = _outline_difference(shown, now) or (
            recreated(reviewed_id, change.remote.id, "review")
            if reviewed_id is not None and change.remote is not None
            else ""
        )
        git_then = then.get(change.name)
        judged = judge(_sides(shown, change, essence_of(git_then) if git_then else None))
        narrowed_to = None if outline or credentials else _narrowed(change, judged)
        if narrowed_to is None:
            # Fields left are a reason only where nothing else holds the connector.
            fields = judged.reasons() if outline or credentials else _reasons(judged)
            what = "; ".join(p for p in (outline or "; ".join(fields), credentials) if p)
            held.append(Held(change, f"differs from the reviewed plan ({what or 'the change'})"))
            continue
        if judged.left:
            left.append(Left(change.name, judged.left))
        if narrowed_to.action is Action.NOOP:
            dropped.append(change.name)
        else:
            as_reviewed.append(narrowed_to)
    dropped += [name for name in saved.shown if name not in seen]
    return Review(tuple(as_reviewed), tuple(held), tuple(sorted(dropped)), tuple(left))


def _outline_difference(shown: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    """What differs in the change as a whole ("" when it is judged field by field): the
    action (an update, activation or deactivation may become another of them, the lifecycle
    being a field), the rename, the ownership move, the orphan state."""
    was, found = shown.get("action"), now.get("action")
    if was != found and not {was, found} <= {a.value for a in _UPDATES}:
        return f"reviewed {was}, now {found}"
    other = [k for k in _SHOWN_KEYS if shown.get(k) != now.get(k)]
    return f"differs: {', '.join(other)}" if other else ""


def _reasons(judged: Judged) -> tuple[str, ...]:
    """Why the fields hold the connector; a field left that a write cannot leave out (the
    whole authentication section is written with the credentials) is held as changed."""
    return judged.reasons() or (
        (f"changed in CXone since the review: {', '.join(judged.left)}",) if judged.left else ()
    )


def _narrowed(change: ConnectorChange, judged: Judged) -> ConnectorChange | None:
    """The part of `change` the rule lets be written (`change` itself when every field it
    writes was reviewed), or None when the connector is held."""
    if judged.held:
        return None
    if not judged.left:
        return change
    if change.remote is None or change.action not in _UPDATES:
        # A create writes every field; an adoption takes the whole connector over.
        return None
    if writes_credentials(change) and any(
        f.parts[0] == "authentication" for f in judged.ruled(Ruling.LEAVE)
    ):
        return None  # credentials are written whole: the edit would be overwritten
    want = change.desired_essence
    assert want is not None  # an update has a desired connector
    now = change.remote.essence
    target = written(now, want, judged.ruled(Ruling.WRITE))
    cut = narrowed(change, change, change.remote, now, target)
    return None if cut.action is Action.ERROR else cut


def _unreviewed(change: ConnectorChange) -> Judged | None:
    """A change of a connector the reviewed plan did not change, git's side unchanged since
    (the same desired files): each field is CXone's edit, left; None for a change that is
    not field by field (a create, an adoption, an ownership move, a rotation)."""
    if (
        change.action not in _UPDATES
        or change.remote is None
        or change.desired is None
        or change.orphaned
        or change.previous_owner is not None
        or change.rename_from is not None
        or writes_credentials(change)
    ):
        return None
    git = change.desired_essence
    return judge(_sides({}, change, git))


def _sides(
    shown: Mapping[str, Any], change: ConnectorChange, git_then: Essence | None
) -> list[FieldSides]:
    """Each field the reviewed change showed (`shown`: its document), then each other field
    the fresh `change` writes, on every side; values as a plan shows them (secrets masked,
    absent as None). Secret credentials are the credentials check's (credential_differences)."""
    cxone, git = _now(change)
    writes = create_fields(change)
    # A shown path is nearly always one the fresh change writes too; every path the
    # essences hold is listed only for one that is not (a field in line again, say).
    index = {f.path: f.parts for f in writes}
    fields: list[FieldSides] = []
    shown_parts: set[Parts] = set()
    for f in shown.get("fields") or ():
        if not isinstance(f, Mapping) or f.get("secret"):
            continue
        path = str(f.get("path"))
        if path not in index:
            index = {**_paths(*(e for e in (cxone, git, git_then) if e is not None)), **index}
        parts = index.get(path, (path,))
        shown_parts.add(parts)
        fields.append(
            FieldSides(
                path=path,
                parts=parts,
                shown=True,
                base=f.get("before"),
                reviewed=f.get("after"),
                cxone=_value(cxone, parts),
                git=_value(git, parts),
            )
        )
    for f in writes:
        if f.secret or covered(f.parts, shown_parts):
            continue
        reviewed = _value(git_then, f.parts) if git_then is not None else _Unknown()
        fields.append(
            FieldSides(
                path=f.path,
                parts=f.parts,
                shown=False,
                base=reviewed,
                reviewed=reviewed,
                cxone=_value(cxone, f.parts),
                git=_value(git, f.parts),
            )
        )
    return fields


def _now(change: ConnectorChange) -> tuple[Essence | None, Essence | None]:
    """CXone's and git's essences now, each credential one side masks masked on both."""
    cxone = change.remote.essence if change.remote is not None else None
    git = change.desired_essence
    if cxone is not None and git is not None:
        return comparable(cxone, git)
    return cxone, git


def _paths(*essences: Essence) -> dict[str, Parts]:
    """Each path a plan may show for these essences (every leaf and what holds it)."""
    out: dict[str, Parts] = {}
    for essence in essences:
        for leaf in every_value(essence):
            for end in range(1, len(leaf.parts) + 1):
                out.setdefault(format_path(leaf.parts[:end]), leaf.parts[:end])
    return out


def _value(essence: Essence | None, parts: Parts) -> Any:
    value = ABSENT if essence is None else value_at(essence.doc, parts)
    return mask_value(parts, None if value is ABSENT else value)


def _what(document: Mapping[str, Any]) -> str:
    """`update: description, syncSettings.batchSize` — the action and the fields it sets."""
    paths = [str(f.get("path")) for f in document.get("fields") or ()]
    transition = document.get("transition")
    if transition:
        paths.append(f"lifecycle {transition.get('from')} → {transition.get('to')}")
    return f"{document.get('action')}" + (f": {', '.join(paths)}" if paths else "")


def credential_differences(shown: Mapping[str, Any], change: ConnectorChange) -> str:
    """How the credentials git holds now differ from those the reviewed change showed
    (`credentials differ: clientSecret ${env:A} → ${env:B}, tokenEndpoint`); "" when they
    are the same. Values that are not secret are named by key (the field lines show them),
    references by name, literal secrets never by value."""
    if change.desired is None:
        return ""
    if "credentialSpec" not in shown:
        return (
            "credentials not in the reviewed plan (made by an older cxrecon); "
            "plan again and review that plan"
        )
    reviewed = shown.get("credentialSpec")
    reviewed = reviewed if isinstance(reviewed, Mapping) else {}
    current = change.desired.spec.authentication.credentials
    found: list[str] = []
    for key in sorted(reviewed.keys() | current.keys()):
        was, now = reviewed.get(key), current.get(key)
        if now is None:
            found.append(f"{key} removed")
        elif not isinstance(was, Mapping):
            found.append(f"{key} added")
        elif not _same_credential(key, was, now):
            found.append(_describe_change(key, was, now))
    return "credentials differ: " + ", ".join(found) if found else ""


def _same_credential(key: str, shown: Mapping[str, Any], value: str) -> bool:
    """Whether git's `value` for `key` is what the reviewed plan showed (`shown`: one entry
    of a credentialSpec)."""
    if is_secret_reference(value):
        return shown.get("reference") == value
    if is_masked_field(key):
        return "fingerprint" in shown and literal_matches(shown["fingerprint"], value)
    return "value" in shown and shown.get("value") == value


def _describe_change(key: str, shown: Mapping[str, Any], value: str) -> str:
    was = shown.get("reference")
    if is_secret_reference(value) and isinstance(was, str):
        return f"{key} {was} → {value}"
    if is_secret_reference(value):
        return f"{key} now {value}"
    if is_masked_field(key):
        return f"{key} (a literal secret) changed"
    if isinstance(was, str):
        return f"{key} {was} → a value in git"
    return f"{key} {shown.get('value')!r} → {value!r}"


def credentials_note(change: ConnectorChange) -> str:
    """`; credentials rotated, written from clientSecret ${env:SF_SECRET}, clientId (value in
    git)` for a change that writes credentials (rotated, or no fingerprint recorded yet);
    "" otherwise. Said of every change applied as reviewed: the reviewed plan could not tell
    a rotation behind unchanged references (it ran without the secrets)."""
    check = change.credentials
    if check is None or not check.will_write or change.desired is None:
        return ""
    sources = ", ".join(
        f"{key} {value}" if is_secret_reference(value) else f"{key} (value in git)"
        for key, value in sorted(change.desired.spec.authentication.credentials.items())
    )
    rotated = check.status is CredentialStatus.ROTATED
    verb = "rotated" if rotated else f"written ({check.reason.value})"
    return f"; credentials {verb}" + (f", written from {sources}" if sources else "")


def reviewed_part(fresh: Plan, verdict: Review, safety: SafetyVerdict) -> Plan:
    """`fresh` with only the changes that are as reviewed (cut down to what was reviewed),
    judged by the reviewed plan's safety verdict (its approval over the gate covers these,
    and only these)."""
    keep = {c.name: c for c in verdict.as_reviewed}
    changes = sorted(
        (keep.get(c.name, c) for c in fresh.changes if c.action is Action.NOOP or c.name in keep),
        key=lambda c: c.sort_key,
    )
    return dataclasses.replace(fresh, changes=tuple(changes), safety=safety, held=len(verdict.held))
