"""Saved plans (`cxrecon plan --out plan.json`): the reviewed plan, bound to the project,
environment, tenant, connectors root and commit it was made for (reconciler.plan.binding)
and pinned to the remote state and desired files it came from, so `apply --plan` applies
exactly what was reviewed.

The file holds the JSON plan document plus, per changed connector, the remote id, ETag,
normalized-state hash and a hash per section (reconciler.plan.pinned), and the desired spec
with secret *references* (never values); a plain sha256 checksum over all of it catches
damage (not forgery: see reconciler.plan.binding for why none is needed). `verify` refuses a
plan whose desired files or pinned connectors changed since, naming them; a pinned
connector moved only toward what the plan writes (its own earlier, partly failed run) is
not a change.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from reconciler import __version__
from reconciler.config.policies import Policies
from reconciler.documents.regular import UnreadableFile, read_regular
from reconciler.errors import PlanError, SavedPlanError, StalePlanError
from reconciler.hashing import canonical_json, same_digest, sha256_prefixed
from reconciler.load.references import is_secret_reference
from reconciler.model import ConnectorSpec, DesiredConnector, RemoteConnector, SourceLocation
from reconciler.plan.applied import AppliedHistory
from reconciler.plan.binding import PlanBinding, check_binding, relative_target
from reconciler.plan.build import build_plan
from reconciler.plan.changes import Action, ConnectorChange, Plan, SafetyVerdict
from reconciler.plan.credentials import CredentialChecker
from reconciler.plan.document import plan_document
from reconciler.plan.essence import essence_of
from reconciler.plan.pinned import Pin, SavedEntry, pinned_now, section_hashes
from reconciler.safefs import write_atomic, write_failure
from reconciler.secret import is_secret_field

KIND: Final = "cxrecon-saved-plan"
#: 2: the binding, paths relative to the project root, a hash per section in each pin.
FORMAT_VERSION: Final = 2


@dataclass(frozen=True)
class SavedPlan:
    path: Path
    desired_digest: str
    #: What the plan was made for; `apply --plan` checks it against where it runs (None:
    #: written by a library call without one, which `apply --plan` refuses).
    binding: PlanBinding | None
    #: The PATH given to `cxrecon plan`, relative to the project root (None: the whole
    #: connectors root). Never trusted: reconciler.plan.binding.target_inside checks it.
    target: str | None
    environment: str | None
    prune: bool
    safety: SafetyVerdict
    summary_text: str
    created_at: str
    entries: tuple[SavedEntry, ...]
    #: Each changed connector's change as the reviewer saw it (the plan JSON's `changes`),
    #: by name: what a fresh plan is held against when this one is stale
    #: (reconciler.plan.reviewed).
    shown: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    #: Where this plan is being applied, once `apply --plan` checked it (verify holds the
    #: plan against it again and names both commits when git moved).
    here: PlanBinding | None = None


def _desired_record(name: str, d: DesiredConnector) -> dict[str, Any]:
    credentials = d.spec.authentication.credentials
    for key, value in credentials.items():
        if is_secret_field(key) and not is_secret_reference(value):
            raise PlanError(
                f"{d.location_of('authentication', 'credentials', key)}: credential '{key}' of "
                f"{name!r} is not a ${{env:}}/${{file:}} reference; a saved plan never holds "
                "secret values, so replace it with a reference and plan again"
            )
    return {
        "spec": d.spec.to_api(),
        "source": str(d.source),
        "management": d.management,
        "previousNames": list(d.previous_names),
    }


@dataclass(frozen=True, slots=True)
class PlanSource:
    """The project root and the PATH a plan was made from; the file records the PATH
    relative to the root (the root itself never: apply runs in the project it is in)."""

    root: Path
    target: Path | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"path": relative_target(self.root, self.target)}


def document(
    plan: Plan,
    created_at: datetime | None = None,
    source: PlanSource | None = None,
    *,
    binding: PlanBinding | None = None,
) -> dict[str, Any]:
    """The saved-plan document, checksum included."""
    entries = []
    for change in plan.changed():
        entries.append(
            {
                "name": change.name,
                "action": change.action.value,
                "previousOwner": change.previous_owner,
                "remote": (
                    {
                        "id": change.remote.id,
                        "etag": change.remote.etag,
                        "stateHash": change.remote.state_hash,
                        "sections": section_hashes(change.remote.essence),
                    }
                    if change.remote
                    else None
                ),
                "desired": (
                    _desired_record(change.name, change.desired) if change.desired else None
                ),
            }
        )
    doc: dict[str, Any] = {
        "kind": KIND,
        "formatVersion": FORMAT_VERSION,
        "cxreconVersion": __version__,
        "createdAt": (created_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        "binding": binding.to_json() if binding is not None else None,
        "source": source.to_json() if source is not None else None,
        "plan": plan_document(plan),
        "connectors": entries,
    }
    doc["checksum"] = checksum(doc)
    return doc


def checksum(doc: Mapping[str, Any]) -> str:
    body = {k: v for k, v in doc.items() if k != "checksum"}
    return sha256_prefixed(canonical_json(body))


def write(
    plan: Plan,
    path: Path,
    source: PlanSource | None = None,
    *,
    binding: PlanBinding | None = None,
) -> None:
    """Write whole or not at all (reconciler.safefs.write_atomic): a reader never sees half
    a plan, a full disk is one line (FileWriteError) and a link at `path` is replaced, never
    followed."""
    doc = document(plan, source=source, binding=binding)
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_failure(path, exc, what="saved plan") from None
    write_atomic(path, text.encode("utf-8"), what="saved plan")


def read(path: Path) -> SavedPlan:
    """Read and verify the checksum; raises SavedPlanError saying what to do."""
    try:
        # Resolved first: the reader never follows a link itself.
        resolved = Path(os.path.realpath(path))
        doc = json.loads(read_regular(resolved, MAX_SAVED_PLAN_BYTES).decode("utf-8"))
    except UnreadableFile as exc:
        raise SavedPlanError(f"{path} cannot be a saved plan: {exc}") from None
    except OSError as exc:
        raise SavedPlanError(f"cannot read saved plan {path}: {exc.strerror or exc}") from None
    except RecursionError:
        raise SavedPlanError(
            f"{path} is not a saved plan (nested too deeply); create one with `cxrecon plan "
            f"--out {path}`"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SavedPlanError(
            f"{path} is not a saved plan ({exc}); create one with `cxrecon plan --out {path}`"
        ) from None
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise SavedPlanError(
            f"{path} is not a saved plan; create one with `cxrecon plan --out {path}`"
        )
    if doc.get("formatVersion") != FORMAT_VERSION:
        raise SavedPlanError(
            f"{path} has saved-plan format {doc.get('formatVersion')!r}; this cxrecon reads "
            f"format {FORMAT_VERSION}: re-run `cxrecon plan --out {path}`"
        )
    recorded = doc.get("checksum")
    if not isinstance(recorded, str) or not same_digest(recorded, checksum(doc)):
        raise SavedPlanError(
            f"{path}: checksum mismatch: the plan was modified after `cxrecon plan` wrote "
            "it; refusing to apply it. Re-run `cxrecon plan --out` and review it again"
        )
    try:
        return _parse(path, doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise SavedPlanError(f"{path}: malformed saved plan ({exc}); re-run plan") from None


#: The largest saved plan read (a 10,000-connector plan with every connector changed is
#: about 60 MB); anything bigger is refused before it is read.
MAX_SAVED_PLAN_BYTES: Final = 128 * 1024 * 1024


def _parse(path: Path, doc: Mapping[str, Any]) -> SavedPlan:
    plan = doc["plan"]
    s = plan["safety"]
    safety = SafetyVerdict(
        over=bool(s["over"]),
        reasons=tuple(str(r) for r in s["reasons"]),
        managed=int(s["managed"]),
        modified=int(s["modified"]),
        max_change_fraction=float(s["maxChangeFraction"]),
        min_managed=int(s["minManaged"]),
    )
    entries = []
    for raw in doc["connectors"]:
        remote = raw["remote"]
        desired = raw["desired"]
        sections = (remote or {}).get("sections") or {}
        entries.append(
            SavedEntry(
                name=str(raw["name"]),
                action=Action(raw["action"]),
                remote=(
                    Pin(
                        str(remote["id"]),
                        str(remote["etag"]),
                        str(remote["stateHash"]),
                        {str(k): str(v) for k, v in sections.items()},
                    )
                    if remote
                    else None
                ),
                previous_owner=raw.get("previousOwner"),
                desired=(
                    DesiredConnector(
                        spec=ConnectorSpec.from_api(desired["spec"]),
                        source=_location(str(desired["source"])),
                        management=str(desired.get("management", "full")),
                        previous_names=tuple(desired.get("previousNames") or ()),
                    )
                    if desired
                    else None
                ),
            )
        )
    source = doc.get("source") or {}
    bound = doc.get("binding")
    return SavedPlan(
        path=path,
        desired_digest=str(plan["desiredDigest"]),
        binding=PlanBinding.from_json(bound) if isinstance(bound, dict) else None,
        target=str(source["path"]) if source.get("path") else None,
        environment=plan.get("environment"),
        prune=bool(plan["prune"]),
        safety=safety,
        summary_text=str(plan.get("summaryText", "")),
        created_at=str(doc["createdAt"]),
        entries=tuple(entries),
        shown={str(c["name"]): c for c in plan.get("changes") or () if isinstance(c, dict)},
    )


def _desired_now(
    saved: SavedPlan, desired: Sequence[DesiredConnector] | None
) -> list[DesiredConnector]:
    """The desired connectors of the saved plan's entries: git's (`desired`) when given,
    checked to be what the plan was made from."""
    wanted = [e for e in saved.entries if e.desired is not None]
    if desired is None:
        return [e.desired for e in wanted if e.desired is not None]
    by_name = {d.spec.name: d for d in desired}
    out: list[DesiredConnector] = []
    for entry in wanted:
        assert entry.desired is not None
        now = by_name.get(entry.name)
        if now is None or essence_of(now.spec) != essence_of(entry.desired.spec):
            raise StalePlanError(
                f"{saved.path}: its copy of connector '{entry.name}' is not what git holds; "
                "run `cxrecon plan --out` again and review the new plan"
            )
        out.append(now)
    return out


def _location(text: str) -> SourceLocation:
    path, line, col = text.rsplit(":", 2)
    return SourceLocation(path, int(line), int(col))


@dataclass(frozen=True, slots=True)
class _Limits:
    max_change_fraction: float
    min_managed: int
    gate_active_deactivation: bool = False


def verify(
    saved: SavedPlan,
    *,
    desired_digest: str,
    remote: Sequence[RemoteConnector],
    checker: CredentialChecker,
    desired: Sequence[DesiredConnector] | None = None,
    project: str | None = None,
    policies: Policies | None = None,
    history: AppliedHistory | None = None,
    binding: PlanBinding | None = None,
) -> Plan:
    """The saved plan, rebuilt against the current tenant, if nothing it depends on moved.

    `desired` is what git holds now: the rebuilt plan writes that (for the connectors the
    saved plan changes), never the copy inside the file, so a saved plan only chooses and
    pins; it cannot carry content of its own (the file is an artifact anyone who can push a
    branch could have produced). Without `desired`, the file's copy is used. `binding`:
    what this apply is for (SavedPlanError when the plan was made for something else).

    Raises StalePlanError naming every connector that changed in CXone (or the desired
    files) since the plan was made. Connectors the plan leaves alone are not pinned; one
    moved only by this plan's own writes (a re-run after a partial failure) is not stale,
    and only what it still lacks is applied.
    """
    binding = binding if binding is not None else saved.here
    if binding is not None:
        check_binding(saved.path, saved.binding, binding)
    if desired_digest != saved.desired_digest:
        raise StalePlanError(
            f"{saved.path}: the desired files changed since this plan was made"
            f"{_commits(saved.binding, binding)}; run `cxrecon plan --out` again and review "
            "the new plan"
        )
    rebuilt_from = _desired_now(saved, desired)
    current, progressed = pinned_now(saved.path, saved.entries, remote, rebuilt_from, project)
    limits = _Limits(saved.safety.max_change_fraction, saved.safety.min_managed)
    rebuilt = build_plan(
        rebuilt_from,
        current,
        limits=limits,
        checker=checker,
        desired_digest=saved.desired_digest,
        prune=saved.prune,
        environment=saved.environment,
        project=project,
        policies=policies,
        # A takeover reviewed in the saved plan is applied as reviewed, and only that one.
        take_ownership=any(e.previous_owner is not None for e in saved.entries),
        # A re-create of a connector deleted in CXone is shown (and audited) as such.
        history=history,
    )
    expected = {(e.name, e.action) for e in saved.entries if e.name not in progressed}
    got = {(c.name, c.action) for c in rebuilt.changes if c.name not in progressed}
    # What this plan already wrote needs nothing, or only the rest of its own steps.
    planned = {e.name: e.action for e in saved.entries}
    broken = {
        c.name
        for c in rebuilt.changes
        if c.name in progressed and c.action is not planned[c.name] and not _continues(c)
    }
    if expected != got or broken:
        names = sorted({name for name, _ in expected ^ got} | broken)
        raise StalePlanError(
            f"{saved.path} no longer reproduces for {', '.join(names)}; run `cxrecon plan "
            "--out` again and review it"
        )
    return dataclasses.replace(rebuilt, safety=saved.safety)


def _continues(change: ConnectorChange) -> bool:
    """Whether a rebuilt change of a connector this plan already wrote is the rest of the
    reviewed change (any write is: every section it could write is git's, as reviewed)."""
    return change.action not in (Action.ERROR, Action.ORPHAN, Action.OBSERVE, Action.CREATE)


def _commits(made_for: PlanBinding | None, here: PlanBinding | None) -> str:
    """ " (made at commit X; this checkout is at Y)" when the plan names its commit and this
    checkout is elsewhere."""
    if here is None or made_for is None or made_for.commit is None:
        return ""
    if made_for.commit == here.commit:
        return ""
    now = here.commit[:12] if here.commit else "not a git checkout"
    return f" (it was made at commit {made_for.commit[:12]}; this checkout is at {now})"
