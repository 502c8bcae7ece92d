"""Drift: what changed in CXone since cxrecon last applied it, told apart from changes still
pending in git by the `cxrecon.io/applied-digest` label the planner reads.

`drift_of(run)` turns one planning run into a `DriftReport`; the CLI renders it
(reconciler.render.drift) and `--write-back` adopts it into the files (reconciler.gitops.writeback).

A connector cxrecon applied before (the audit log, or the controller's memory) that is
gone from CXone is drift of its own: deleted in CXone.

What cannot be seen: credential values (write-only in CXone; only a changed set of keys or
auth type shows), a deletion nobody recorded (no audit log here: it reads as "not created
yet") or a rename in CXone, and connectors cxrecon never applied (no digest to compare
with).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from reconciler.model import LABEL_APPLIED_AT, DesiredConnector, SourceLocation
from reconciler.plan.changes import Action, ConnectorChange, Plan
from reconciler.plan.credentials import CredentialStatus
from reconciler.plan.diff import ChangeKind, FieldChange, JsonValue, Origin, safe_values

#: The version of the JSON shape (schemas/drift.schema.json).
FORMAT_VERSION: Final = 1
_DRIFT_ORIGINS: Final = frozenset({Origin.DRIFT, Origin.CONFLICT})


class DriftStatus(StrEnum):
    IN_SYNC = "in-sync"
    DRIFT = "drift"
    ERROR = "error"

    @property
    def exit_code(self) -> int:
        return {DriftStatus.IN_SYNC: 0, DriftStatus.DRIFT: 2, DriftStatus.ERROR: 1}[self]


@dataclass(frozen=True, slots=True)
class DriftedField:
    """One field that differs from the last apply. `git` is the declared (and last applied)
    value, `cxone` the tenant's now; None means absent. Secret paths are masked here."""

    path: str
    parts: tuple[str, ...]
    git: JsonValue
    cxone: JsonValue
    origin: Origin  # DRIFT, or CONFLICT when git changed the same section too
    secret: bool
    location: SourceLocation | None = None

    @property
    def kind(self) -> ChangeKind:
        """What happened in CXone: the value was added, removed or changed there."""
        if self.git is None:
            return ChangeKind.ADDED
        if self.cxone is None:
            return ChangeKind.REMOVED
        return ChangeKind.CHANGED

    @property
    def server_error(self) -> bool:
        """CXone put the connector in ERROR: not an edit, a failing connector."""
        return self.parts == ("lifecycleStatus",) and self.cxone == "ERROR"


@dataclass(frozen=True, slots=True)
class ConnectorDrift:
    name: str
    connector_id: str
    file: str | None
    applied_at: str | None
    fields: tuple[DriftedField, ...]


@dataclass(frozen=True, slots=True)
class DeletedConnector:
    """A declared connector cxrecon applied before that is no longer in CXone."""

    name: str
    connector_id: str | None
    file: str | None
    last_applied: str | None
    source: str  # where cxrecon knows it from: "audit log" or "controller"


@dataclass(frozen=True, slots=True)
class Unchecked:
    """A declared connector drift could not judge; `error` ones make the run fail."""

    name: str
    reason: str
    error: bool


@dataclass(frozen=True)
class DriftReport:
    environment: str | None
    connectors: tuple[ConnectorDrift, ...]
    unchecked: tuple[Unchecked, ...] = ()
    checked: int = 0  # managed connectors compared with their last apply
    pending: tuple[str, ...] = ()  # changed in git, not applied yet: not drift
    missing: tuple[str, ...] = ()  # declared, not in CXone (not applied yet, or deleted there)
    unmanaged: tuple[str, ...] = ()  # declared, in CXone, never applied by cxrecon
    deleted: tuple[DeletedConnector, ...] = ()  # applied by cxrecon, deleted in CXone since

    @property
    def status(self) -> DriftStatus:
        # Drift found is reported even when some connectors could not be checked.
        if self.connectors or self.deleted:
            return DriftStatus.DRIFT
        if any(u.error for u in self.unchecked):
            return DriftStatus.ERROR
        return DriftStatus.IN_SYNC

    @property
    def exit_code(self) -> int:
        return self.status.exit_code

    @property
    def field_count(self) -> int:
        return sum(len(c.fields) for c in self.connectors)


def drift_of(plan: Plan) -> DriftReport:
    """Sort every declared connector into drifted, in sync, pending, missing or unchecked."""
    drifted: list[ConnectorDrift] = []
    unchecked: list[Unchecked] = []
    pending: list[str] = []
    missing: list[str] = []
    deleted: list[DeletedConnector] = []
    unmanaged: list[str] = []
    checked = 0
    for change in plan.changes:
        if change.orphaned:
            continue  # removed from git: a pending change, never drift
        if change.action is Action.ERROR:
            unchecked.append(Unchecked(change.name, "; ".join(change.problems), error=True))
        elif change.deleted is not None and change.desired is not None:
            deleted.append(
                DeletedConnector(
                    name=change.name,
                    connector_id=change.deleted.connector_id,
                    file=change.desired.source.path,
                    last_applied=change.deleted.time,
                    source=change.deleted.source,
                )
            )
        elif change.remote is None or change.desired is None:
            missing.append(change.name)
        elif change.action is Action.ADOPT:
            unmanaged.append(change.name)
        else:
            checked += 1
            found = _connector(change, change.desired)
            if found is not None:
                drifted.append(found)
            if any(f.origin is Origin.UNKNOWN for f in change.fields):
                unchecked.append(
                    Unchecked(
                        change.name,
                        "differs from git but has no readable cxrecon.io/applied-digest label "
                        "to tell drift from pending changes; `cxrecon apply` records one",
                        error=False,
                    )
                )
            if any(f.origin is Origin.PENDING for f in change.fields) or (
                change.credentials is not None
                and change.credentials.status is CredentialStatus.ROTATED
            ):
                pending.append(change.name)
    return DriftReport(
        environment=plan.environment,
        connectors=tuple(drifted),
        unchecked=tuple(unchecked),
        checked=checked,
        pending=tuple(pending),
        missing=tuple(missing),
        unmanaged=tuple(unmanaged),
        deleted=tuple(deleted),
    )


def _connector(change: ConnectorChange, desired: DesiredConnector) -> ConnectorDrift | None:
    fields = tuple(_field(f, desired) for f in change.fields if f.origin in _DRIFT_ORIGINS)
    if not fields or change.remote is None:
        return None
    return ConnectorDrift(
        name=change.name,
        connector_id=change.remote.id,
        file=desired.source.path,
        applied_at=change.remote.essence.owned_labels.get(LABEL_APPLIED_AT),
        fields=fields,
    )


def _field(change: FieldChange, desired: DesiredConnector) -> DriftedField:
    cxone, git = safe_values(change)
    assert change.origin is not None
    return DriftedField(
        path=change.path,
        parts=change.parts,
        git=git,
        cxone=cxone,
        origin=change.origin,
        secret=change.secret,
        location=desired.location_of(*document_path(desired, change.parts)),
    )


def document_path(desired: DesiredConnector, parts: tuple[str, ...]) -> tuple[str | int, ...]:
    """An essence path (mappings keyed by cxoneField) as a path in the YAML document."""
    if parts[:1] == ("mappings",) and len(parts) >= 2:
        for index, mapping in enumerate(desired.spec.mappings):
            if mapping.cxone_field == parts[1]:
                return ("mappings", index, *parts[2:])
        return ("mappings",)
    return parts


# --- JSON ------------------------------------------------------------------------


def to_json(report: DriftReport) -> dict[str, object]:
    """The stable JSON shape described by schemas/drift.schema.json."""
    return {
        "formatVersion": FORMAT_VERSION,
        "environment": report.environment,
        "status": report.status.value,
        "summary": {
            "drifted": len(report.connectors),
            "fields": report.field_count,
            "checked": report.checked,
            "unchecked": len(report.unchecked),
            "pending": len(report.pending),
            "missing": len(report.missing),
            "unmanaged": len(report.unmanaged),
            "deleted": len(report.deleted),
        },
        "connectors": [
            {
                "name": c.name,
                "id": c.connector_id,
                "file": c.file,
                "appliedAt": c.applied_at,
                "fields": [_field_json(f) for f in c.fields],
            }
            for c in report.connectors
        ],
        "unchecked": [
            {"name": u.name, "reason": u.reason, "error": u.error} for u in report.unchecked
        ],
        "pending": list(report.pending),
        "missing": list(report.missing),
        "unmanaged": list(report.unmanaged),
        "deleted": [
            {
                "name": d.name,
                "id": d.connector_id,
                "file": d.file,
                "lastApplied": d.last_applied,
                "source": d.source,
            }
            for d in report.deleted
        ],
    }


def _field_json(f: DriftedField) -> Mapping[str, object]:
    return {
        "path": f.path,
        "kind": f.kind.value,
        "origin": f.origin.value,
        "git": f.git,
        "cxone": f.cxone,
        "secret": f.secret,
        "location": None if f.location is None else str(f.location),
    }
