"""What the controller knows it manages, across cycles: its audit log (read incrementally,
every cycle's own writes included) and the managed connectors it saw in earlier cycles
(also those `cxrecon apply` in CI created, whose audit log the controller never sees).

A declared connector it knows that is gone from CXone was deleted there: the plan marks it,
and the controller re-creates it only with --self-heal.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from reconciler.apply.audit_reader import reader_for
from reconciler.model import LABEL_PROJECT
from reconciler.plan.applied import Applied, AppliedHistory
from reconciler.plan.changes import Plan


class KnownConnectors:
    """The history one controller plans with; `remember` each cycle's plan."""

    def __init__(self, audit_log: Path) -> None:
        # The process's one reader of this log: what apply's settling of unknown writes
        # reads too, so a cycle parses only what was appended since the last.
        self._audit = reader_for(audit_log)
        self._seen: dict[str, Applied] = {}

    def history(self, environment: str | None) -> AppliedHistory:
        seen = AppliedHistory.of(self._seen.values())
        return self._audit.read(environment).merged(seen)

    def remember(self, plan: Plan, project: str, now: dt.datetime) -> None:
        """The managed connectors of this project the plan found in CXone. A name stays
        known after it disappears: that is what makes it "deleted" in the next cycles."""
        stamp = now.isoformat(timespec="seconds")
        for change in plan.changes:
            pin = change.remote
            if pin is None or not pin.managed:
                continue
            if pin.spec.labels.get(LABEL_PROJECT) not in (None, project):
                continue
            self._seen[change.name] = Applied(change.name, pin.id, stamp, source="controller")

    def __len__(self) -> int:
        return len(self._seen)
