"""What executing one connector's change comes to: an `Outcome` (applied, unchanged, failed,
skipped) and the `ConnectorResult` the report, the renderers and the controller read."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from reconciler.plan.changes import Action


class Outcome(StrEnum):
    APPLIED = "applied"  # the tenant now matches git for this connector
    UNCHANGED = "unchanged"  # nothing to write
    #: Nothing left to write once a conflict was re-read: another writer (a concurrent
    #: apply, the controller) had already brought it in line. Not counted as applied.
    IN_LINE = "in_line"
    FAILED = "failed"  # not (fully) applied; `reason` says why and what to do
    SKIPPED = "skipped"  # deliberately left alone (an orphan without --prune)


@dataclass(frozen=True, slots=True)
class ConnectorResult:
    name: str
    action: Action  # as planned
    outcome: Outcome
    connector_id: str | None = None
    lifecycle: str | None = None  # where the connector ended up
    writes: int = 0
    replans: int = 0
    reason: str | None = None
    #: Something the user should know that did not stop this connector (e.g. credentials
    #: that could not be verified because a secret is not available here).
    warning: str | None = None

    @property
    def changed(self) -> bool:
        return self.outcome is Outcome.APPLIED
