"""What one audit record says (reconciler.apply.audit writes them, .audit_reader reads them
back): a write's intent, its outcome or resolution, a CRM sync; what a write expects to leave
behind; fields someone else changed meanwhile, masked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from reconciler.secret import mask_value

#: `unknown`: the write was sent and its answer never came (interrupted, lost connection);
#: a later run reads the connector back and records a `resolution` (reconciler.apply.pending).
Result = Literal["success", "failure", "conflict", "skipped", "unknown"]
#: What a record is: a write's `intent` (before it is sent) and its `outcome`; the
#: `resolution` of an unknown outcome; a `note` (a conflict's re-read) or a CRM `sync`.
Kind = Literal["intent", "outcome", "resolution", "note", "sync"]


@dataclass(frozen=True, slots=True)
class ObservedChange:
    """A field someone else changed between our read and our write (values already masked)."""

    path: str
    seen: Any
    found: Any

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "seen": self.seen, "found": self.found}


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One write or sync attempt, as the executor saw it."""

    connector: str
    action: str
    result: Result
    connector_id: str | None = None
    fields: tuple[str, ...] = ()
    etag_before: str | None = None
    etag_after: str | None = None
    http_status: int | None = None
    attempts: int = 1
    latency_ms: float = 0.0
    error_class: str | None = None
    error_message: str | None = None
    out_of_band: tuple[ObservedChange, ...] = ()
    details: Mapping[str, str | int | float | bool | None] = field(default_factory=dict)
    kind: Kind = "outcome"
    #: The intent this outcome (or resolution) answers.
    write_id: str | None = None


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a connector holds once a write has landed, as a digest of the written sections
    and cxrecon's labels it set (no value, so no secret): read back, it tells whether a write
    whose answer never came reached CXone (reconciler.apply.pending)."""

    sections: tuple[str, ...]
    labels: tuple[str, ...]
    digest: str

    def to_json(self) -> dict[str, Any]:
        return {"sections": list(self.sections), "labels": list(self.labels), "digest": self.digest}


@dataclass(frozen=True, slots=True)
class WriteIntent:
    """A write about to be sent: appended (and fsynced) before the request leaves."""

    connector: str
    action: str
    method: str  # POST or PATCH
    fields: tuple[str, ...]
    connector_id: str | None = None
    etag_before: str | None = None
    expect: Expectation | None = None


def observed_changes(
    changes: Iterable[tuple[str, Any, Any]],
) -> tuple[ObservedChange, ...]:
    """Out-of-band changes as audit entries, secret-bearing values masked."""
    return tuple(
        ObservedChange(path=p, seen=mask_value(p, seen), found=mask_value(p, found))
        for p, seen, found in changes
    )
