"""What cxrecon knows it applied before: the connectors it created or wrote in one
environment, so the planner can tell "deleted in CXone" from "not created yet".

The CXone API does not return deleted connectors, so the knowledge comes from cxrecon's own
records: the audit log (reconciler.apply.audit_reader reads it) and, in the controller, the
managed connectors it saw in earlier cycles. Pure values; no I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Applied:
    """The last thing known of one connector cxrecon managed in this environment."""

    name: str
    connector_id: str | None = None
    #: When it was last written or seen (ISO 8601), if known.
    time: str | None = None
    #: Where the knowledge comes from: "audit log" or "controller".
    source: str = "audit log"

    def describe(self) -> str:
        """`deleted in CXone (id c-12, last applied 2026-11-30T10:00:00Z, from the audit log)`;
        what the controller saw in an earlier cycle is `last seen` (it may never have
        written it)."""
        facts = [f"id {self.connector_id}"] if self.connector_id else []
        if self.time:
            when = "last seen" if self.source == "controller" else "last applied"
            facts.append(f"{when} {self.time}")
        facts.append(f"from the {self.source}")
        return f"deleted in CXone ({', '.join(facts)})"


@dataclass(frozen=True)
class AppliedHistory:
    """Connectors known to have been applied, by name (the newest record wins)."""

    connectors: Mapping[str, Applied] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, records: Iterable[Applied]) -> AppliedHistory:
        found: dict[str, Applied] = {}
        for record in records:
            found[record.name] = record
        return cls(MappingProxyType(found))

    def merged(self, other: AppliedHistory) -> AppliedHistory:
        """Both histories; `other` wins for a name both know."""
        return AppliedHistory(MappingProxyType({**self.connectors, **other.connectors}))

    def deleted(self, name: str, remote_ids: frozenset[str]) -> Applied | None:
        """The record of `name` when it was applied and is gone now: not under its name
        (the caller knows) and its id not under any other (a rename in CXone is not a
        deletion)."""
        record = self.connectors.get(name)
        if record is None or (
            record.connector_id is not None and record.connector_id in remote_ids
        ):
            return None
        return record

    def __len__(self) -> int:
        return len(self.connectors)
