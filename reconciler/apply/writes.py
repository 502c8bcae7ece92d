"""What a write to CXone is expected to leave behind, and whether a connector read back holds
it: how a write whose answer never came is settled (in the run, or by the next one).

An expectation is a digest of the sections the write sets (in essence terms, credentials as
their keys only) and of cxrecon's labels it stamps: the applied-at time and a create's salted
credentials fingerprint make it particular to that one write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from reconciler.apply.audit_records import AuditEvent, Expectation, Result
from reconciler.apply.calltrace import CallTrace
from reconciler.cxone.errors import (
    CxoneApiError,
    RateLimited,
    ServerError,
    TransportError,
)
from reconciler.errors import CxreconError
from reconciler.hashing import canonical_json, sha256_hex
from reconciler.model import LABEL_MANAGED_BY, LABEL_PROJECT, MANAGED_BY_VALUE, RemoteConnector
from reconciler.plan.essence import SECTIONS, Essence, essence_of

#: A create's sections as they must read back (its lifecycle moves on in the next step).
CREATE_SECTIONS: Final = tuple(s for s in SECTIONS if s != "lifecycleStatus")


def expectation(values: Mapping[str, Any], labels: Mapping[str, str | None]) -> Expectation:
    """The expectation of a write setting `values` (section → essence value; "name" for a
    rename) and cxrecon's `labels` (None: removed)."""
    wanted = dict(labels)
    return Expectation(
        sections=tuple(sorted(values)),
        labels=tuple(sorted(wanted)),
        digest=_digest(dict(values), wanted),
    )


def of_sections(target: Essence, sections: tuple[str, ...]) -> dict[str, Any]:
    """`sections` of `target`, as an expectation's values."""
    doc: Mapping[str, Any] = target.doc
    return {s: doc[s] for s in sections if s in doc}


def holds(expect: Mapping[str, Any] | Expectation, fresh: RemoteConnector) -> bool:
    """Whether `fresh` (read back) holds what the write of `expect` set."""
    if isinstance(expect, Expectation):
        expect = expect.to_json()
    sections, labels, digest = expect.get("sections"), expect.get("labels"), expect.get("digest")
    if not isinstance(sections, list) or not isinstance(labels, list):
        return False
    essence = essence_of(fresh.spec)
    doc: Mapping[str, Any] = essence.doc
    values = {
        s: (fresh.name if s == "name" else doc.get(s)) for s in sections if isinstance(s, str)
    }
    found = {k: fresh.spec.labels.get(k) for k in labels if isinstance(k, str)}
    return _digest(values, found) == digest


def answer_lost(exc: BaseException) -> bool:
    """The write may have landed: no answer came (a lost connection, a timeout, an
    interruption) or the server failed part-way (5xx)."""
    if isinstance(exc, RateLimited):
        return False  # a 429 is a refusal: nothing was done
    return isinstance(exc, ServerError | TransportError) or not isinstance(exc, Exception)


def landed(exc: BaseException) -> bool:
    """A 2xx whose answer could not be used (no ETag, too large, not JSON): the write
    reached CXone, whatever went wrong reading about it."""
    if not isinstance(exc, CxoneApiError) or exc.status is None:
        return False
    return 200 <= exc.status < 300


def _digest(values: Mapping[str, Any], labels: Mapping[str, str | None]) -> str:
    raw = canonical_json({"values": dict(values), "labels": dict(labels)})
    return sha256_hex(raw, 32)


@dataclass(frozen=True, slots=True)
class Sent:
    """Which write an outcome answers."""

    connector: str
    action: str
    fields: tuple[str, ...]
    connector_id: str | None
    write_id: str | None


def outcome_event(
    sent: Sent,
    trace: CallTrace,
    operation: str,
    *,
    etag_before: str | None,
    after: RemoteConnector | None,
    error: CxreconError | None,
    result: Result,
    details: Mapping[str, str | int | float | bool | None],
) -> AuditEvent:
    """The outcome record of one write, from what its requests showed."""
    status = trace.last_status(operation)
    if isinstance(error, CxoneApiError) and error.status is not None:
        status = error.status
    return AuditEvent(
        connector=sent.connector,
        connector_id=after.id if after else sent.connector_id,
        action=sent.action,
        result=result,
        fields=sent.fields,
        etag_before=etag_before,
        etag_after=after.etag if after else None,
        http_status=status,
        attempts=max(trace.attempts(operation), 1),
        latency_ms=trace.elapsed * 1000.0,
        error_class=None if error is None else type(error).__name__,
        error_message=None if error is None else str(error),
        details=details,
        write_id=sent.write_id,
    )


def resolution_event(
    connector: str,
    action: str,
    write_id: str | None,
    fresh: RemoteConnector | None,
    done: bool,
    *,
    how: str = "read back after the write",
) -> AuditEvent:
    """The record settling a write whose outcome was unknown."""
    if done:
        found = "holds what the write set: it was written"
    elif fresh is None:
        found = "not found: it was not written (or deleted since)"
    else:
        found = "does not hold what the write set: not written (or changed again since)"
    return AuditEvent(
        connector=connector,
        connector_id=fresh.id if fresh else None,
        action=action,
        result="success" if done else "failure",
        etag_after=fresh.etag if fresh else None,
        kind="resolution",
        write_id=write_id,
        details={"resolvedFrom": "unknown", "how": how, "readBack": found},
    )


def made_here(
    fresh: RemoteConnector,
    created_id: str | None,
    created_labels: Mapping[str, str] | None,
    project: str | None,
) -> bool:
    """Whether `fresh`, found under the name a run is creating, is cxrecon's to go on with:
    the one this create made (its id, or every label its body set, a salted credentials
    fingerprint and the applied-at time among them), or one another run of the same project
    created (a concurrent apply: the name converges, no duplicate). Anything else was made
    by someone else, and is never taken over."""
    if created_id is not None and fresh.id == created_id:
        return True
    labels = created_labels or {}
    if labels and all(fresh.spec.labels.get(k) == v for k, v in labels.items()):
        return True
    found = fresh.spec.labels
    if found.get(LABEL_MANAGED_BY) != MANAGED_BY_VALUE:
        return False
    return project is None or found.get(LABEL_PROJECT) == project


def taken_over(name: str, found: RemoteConnector) -> str:
    """Why a create stopped: the name was taken by a connector someone else made, with the
    values they set (no secret: credentials are write-only), so the user can decide."""
    doc = essence_of(found.spec).doc
    values = [
        f"endpointUrl={doc['endpointUrl']}",
        f"connectorType={doc['connectorType']}",
        f"lifecycleStatus={doc['lifecycleStatus']}",
        f"authentication.type={doc['authentication']['type']}",
    ]
    if found.spec.labels:
        pairs = ", ".join(f"{k}: {v}" for k, v in sorted(found.spec.labels.items()))
        values.append("labels={" + pairs + "}")
    return (
        f"created in CXone meanwhile (id {found.id}, not by this apply): "
        + "; ".join(values)
        + f". Nothing was written. Rename {name} in git, or rename or remove the one in "
        "CXone; to take it over, run `cxrecon plan` (it is planned as adopt), then apply"
    )
