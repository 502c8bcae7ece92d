"""A fresh plan held against the reviewed one: what was reviewed, and what was not.

When the reviewed plan (a saved plan: the artifact of a pull request's plan job) is stale
by the time it is applied (git moved on, or CXone changed a connector it pinned), the
apply can plan afresh and still write only what a reviewer saw (Atlantis's plan of record).
Each connector the fresh plan would change is compared with the reviewed plan's entry for
it, as the reviewer saw it: the action, the lifecycle transition, every field's before and
after value (secrets masked, as shown), the rename, the ownership move and the credentials
git holds (`credentialSpec`: a non-secret value by value, a reference by its name — `${env:A}`
is not `${env:B}` —, a literal secret by its salted fingerprint), whether or not the change
writes them: a commit after the review that points a token endpoint elsewhere or swaps the
variable a secret comes from is not as reviewed. The credential *status* is not compared: a
pull request's plan runs without connector secrets (`unknown`), the apply with them; a
rotation behind the same references (the secret store's values changed) is applied and named
as such (`credentials_note`).

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

from reconciler.load.references import is_secret_reference
from reconciler.plan.changes import Action, ConnectorChange, Plan, SafetyVerdict
from reconciler.plan.credentials import CredentialStatus, literal_matches
from reconciler.plan.document import change_document
from reconciler.secret import is_masked_field

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
            continue
        credentials = credential_differences(shown, change)
        if signature(shown) == signature(now) and not credentials:
            as_reviewed.append(change)
        else:
            what = "; ".join(p for p in (_difference(shown, now, credentials), credentials) if p)
            held.append(Held(change, f"differs from the reviewed plan ({what})"))
    dropped = tuple(sorted(name for name in reviewed if name not in seen))
    return Review(tuple(as_reviewed), tuple(held), dropped)


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


def _difference(shown: Mapping[str, Any], now: Mapping[str, Any], credentials: str = "") -> str:
    """What differs between the reviewed change and the fresh one, by field path: values
    CXone changed since the review, changes the review did not show, and the rest (the
    credentials' difference, when `credentials` says it, is said by the caller)."""
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
    if credentials and not (moved or unshown or other):
        return ""
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
