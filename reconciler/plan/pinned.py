"""A saved plan's entries and their pins by content (a hash per essence section), so
`apply --plan` tells a connector nobody touched, one moved only by this plan's own writes,
and one someone else edited — by what it holds, never by its ETag alone.

Why content and not an id: a server (or a proxy) may keep an ETag while content changes,
and a CI re-run of a partly failed plan has no audit log of the first run; the connector's
content is always there. A connector "moved only toward the plan" has, in every section,
either the value pinned when the plan was made or the value the plan writes (git's), and
the ownership labels a write of this project sets: whoever wrote that, re-applying the plan
sends nothing it did not review and overwrites nobody's edit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from reconciler.errors import StaleSavedPlanError
from reconciler.hashing import canonical_json, sha256_hex
from reconciler.model import (
    LABEL_MANAGED_BY,
    LABEL_PROJECT,
    MANAGED_BY_VALUE,
    DesiredConnector,
    RemoteConnector,
)
from reconciler.plan.changes import Action
from reconciler.plan.essence import SECTIONS, Essence, essence_of, state_hash
from reconciler.secret import MASK

#: The keys of a pin's `sections` beside SECTIONS: the name, and cxrecon's ownership labels
#: (its bookkeeping labels — digests, times, fingerprints — change with every write).
NAME: Final = "name"
OWNER: Final = "owner"
#: Where a connector's lifecycle ends after a plan's deactivation (no desired connector).
_DEACTIVATED: Final = "INACTIVE"


@dataclass(frozen=True, slots=True)
class Pin:
    """A connector as the plan found it: id, ETag, whole-state hash, section hashes."""

    id: str
    etag: str
    state_hash: str
    #: A hash per essence section (reconciler.plan.pinned.section_hashes).
    sections: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SavedEntry:
    """One changed connector as reviewed."""

    name: str
    action: Action
    remote: Pin | None
    desired: DesiredConnector | None
    #: The project this connector is taken over from (`--take-ownership`), if any.
    previous_owner: str | None = None


def _hash(value: Any) -> str:
    return sha256_hex(canonical_json(value), 32)


def _owner(labels: Mapping[str, str]) -> dict[str, str | None]:
    return {key: labels.get(key) for key in (LABEL_MANAGED_BY, LABEL_PROJECT)}


def section_hashes(essence: Essence) -> dict[str, str]:
    """What a pin holds: 128 bits of sha256 per section, the name and the ownership labels."""
    doc: Mapping[str, Any] = essence.doc
    out = {section: _hash(doc[section]) for section in SECTIONS}
    out[NAME] = _hash(essence.name)
    out[OWNER] = _hash(_owner(essence.owned_labels))
    return out


def moved_toward(
    now: Essence,
    pinned: Mapping[str, str] | None,
    desired: Essence | None,
    project: str | None,
) -> str | None:
    """None when every section of `now` is as pinned or as `desired` (what the plan
    writes; None: a deactivation), and its owner is as pinned or this `project`'s; else the
    first section that moved elsewhere. `pinned` None: a create (nothing was there)."""
    current = section_hashes(now)
    # `now` as held against what the plan writes (`toward`), and what that is (`written`).
    toward = dict(current)
    written = section_hashes(desired) if desired is not None else {}
    if desired is None:
        written["lifecycleStatus"] = _hash(_DEACTIVATED)
    else:
        # A credential only one side can show (git's `${env:}` reference, a value the server
        # masks) is compared by the fingerprint, not here: masked on both sides.
        mine, theirs = _masked_alike(now, desired)
        toward["authentication"], written["authentication"] = _hash(mine), _hash(theirs)
        if pinned is None and now.lifecycle == "DRAFT":
            # A create makes the connector as DRAFT and moves it on in a later step.
            written["lifecycleStatus"] = current["lifecycleStatus"]
    written[OWNER] = _hash({LABEL_MANAGED_BY: MANAGED_BY_VALUE, LABEL_PROJECT: project})
    for key in (NAME, *SECTIONS, OWNER):
        as_pinned = pinned is not None and current[key] == pinned.get(key)
        if not as_pinned and toward[key] != written.get(key):
            return key
    return None


def _masked_alike(now: Essence, desired: Essence) -> tuple[Any, Any]:
    have: Mapping[str, Any] = now.doc["authentication"]
    want: Mapping[str, Any] = desired.doc["authentication"]
    was, will = dict(have["credentials"]), dict(want["credentials"])
    for key in was.keys() & will.keys():
        if MASK in (was[key], will[key]):
            was[key] = will[key] = MASK
    return {**have, "credentials": was}, {**want, "credentials": will}


def pinned_now(
    where: Path,
    entries: Sequence[SavedEntry],
    remote: Sequence[RemoteConnector],
    desired: Sequence[DesiredConnector],
    project: str | None,
) -> tuple[list[RemoteConnector], frozenset[str]]:
    """The connectors the saved plan pinned (or creates and finds made), as CXone has them
    now, and the names of those that moved only toward what this plan writes (its own
    writes of an earlier, partly failed run). StaleSavedPlanError naming each one that
    moved otherwise (or appeared, or is gone) since the plan was made.

    Content decides, never the ETag alone: a server or proxy may keep an ETag while the
    connector changes, and a new ETag over the same content is no change."""
    by_id = {r.id: r for r in remote}
    by_name: dict[str, RemoteConnector] = {}
    for r in remote:
        by_name.setdefault(r.name, r)
    wanted = {d.spec.name: essence_of(d.spec) for d in desired}
    stale: list[tuple[str, str]] = []
    current: list[RemoteConnector] = []
    progressed: set[str] = set()
    for entry in entries:
        target = wanted.get(entry.name)
        if entry.remote is None:
            made = by_name.get(entry.name)
            if made is None:
                continue
            made_as = essence_of(made.spec)
            if target is not None and moved_toward(made_as, None, target, project) is None:
                current.append(made)
                progressed.add(entry.name)
            else:
                stale.append((entry.name, "now exists in CXone"))
            continue
        now = by_id.get(entry.remote.id)
        if now is None:
            stale.append((entry.name, f"id {entry.remote.id} no longer exists in CXone"))
            continue
        current.append(now)
        essence = essence_of(now.spec)
        if state_hash(essence) == entry.remote.state_hash:
            continue
        moved = (
            moved_toward(essence, entry.remote.sections, target, project)
            if entry.remote.sections
            else "its state"
        )
        if moved is None:
            progressed.add(entry.name)
            continue
        etag = (
            f"ETag {entry.remote.etag} → {now.etag}"
            if now.etag != entry.remote.etag
            else "its ETag unchanged"
        )
        stale.append((entry.name, f"changed in CXone: {moved}, {etag}"))
    if stale:
        listed = "; ".join(f"{name} ({why})" for name, why in stale)
        raise StaleSavedPlanError(
            f"{where} is stale: {listed}. Run `cxrecon plan --out` again and "
            "review it (or apply without --plan to plan afresh)",
            connectors=[name for name, _ in stale],
        )
    return current, frozenset(progressed)
