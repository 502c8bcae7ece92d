"""What one reconcile cycle produced: options, per-connector decisions and the cycle report,
as frozen values shared by the loop, the endpoints, the metrics and the CLI.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from reconciler.apply.results import ConnectorResult, Outcome
from reconciler.celpolicy.evaluate import Violation
from reconciler.controller.gitrepo import PullResult
from reconciler.plan.changes import Action
from reconciler.plan.diff import FieldChange, Origin


class Clock(Protocol):
    """Wall time for sync windows and reports; monotonic time for intervals and backoff."""

    def now(self) -> dt.datetime: ...

    def monotonic(self) -> float: ...


class CycleResult(StrEnum):
    SUCCESS = "success"  # planned, and every change allowed now was applied
    #: planned, but some connector failed, cannot be planned or backs off, or the git pull
    #: failed (the last good commit was used)
    PARTIAL = "partial"
    FAILED = "failed"  # no plan: invalid desired state, API unreachable, ...


class Phase(StrEnum):
    """The parts of a cycle, timed one after the other (together, the whole cycle)."""

    PULL = "pull"  # git pull of the repository (reading HEAD without --pull)
    LOAD = "load"  # cxrecon.yaml and the connector files
    FETCH = "fetch"  # every connector from CXone (sign-in included)
    PLAN = "plan"
    APPLY = "apply"  # deciding per connector, the writes, the audit log made durable


class Decision(StrEnum):
    """What the controller did with one connector's planned change this cycle."""

    IN_SYNC = "in-sync"
    APPLY = "apply"  # executed; the result says how it went
    REPORT = "report"  # drift or an unknown origin without --self-heal
    DRY_RUN = "dry-run"
    WINDOW = "window"  # a sync window forbids writes now
    UNSAFE = "unsafe"  # the plan is over the safety gate
    BACKOFF = "backoff"  # failed recently; waits out its backoff
    STOPPING = "stopping"  # not started: the controller is shutting down
    ERROR = "error"  # cannot be planned (see reason)
    POLICY = "policy"  # breaks an `error` policy of cxrecon.yaml: never written (see reason)
    ORPHAN = "orphan"  # managed, no longer in git, and --prune is off


@dataclass(frozen=True)
class ControllerOptions:
    repo: Path
    audit_log: Path
    environment: str | None = None
    interval: float = 300.0
    self_heal: bool = False
    dry_run: bool = False
    ignore_windows: bool = False
    allow_unsafe: bool = False
    prune: bool = False
    pull: bool = True
    strict: bool = False
    parallelism: int = 4
    ready_factor: float = 3.0
    #: /readyz fails once this many cycles in a row could not pull the repository.
    max_pull_failures: int = 3
    #: The folder (a checkout, or the one the controller runs in) whose `.cxrecon/` holds the
    #: audit log and the notification memory: no link below it is followed (issue 22).
    state_root: Path | None = None


@dataclass(frozen=True, slots=True)
class ConnectorReport:
    name: str
    action: Action
    origin: Origin | None
    decision: Decision
    reason: str | None = None
    fields: tuple[str, ...] = ()
    result: ConnectorResult | None = None
    #: What the status page shows: the field changes (masked when rendered), the lifecycle
    #: in CXone, the applied-at label, the file and the description.
    changes: tuple[FieldChange, ...] = ()
    lifecycle: str | None = None
    applied_at: str | None = None
    source: str | None = None
    description: str | None = None
    #: cxrecon managed it and it was deleted in CXone (the change re-creates it).
    deleted: bool = False

    @property
    def failed(self) -> bool:
        return self.result is not None and self.result.outcome is Outcome.FAILED

    @property
    def written(self) -> bool:
        """Applied this cycle (for a connector deleted in CXone: re-created)."""
        return self.result is not None and self.result.outcome is Outcome.APPLIED


@dataclass(frozen=True)
class CycleReport:
    number: int
    started: dt.datetime
    duration: float
    result: CycleResult
    commit: str | None = None
    pull: PullResult | None = None
    error: str | None = None
    connectors: tuple[ConnectorReport, ...] = ()
    interrupted: bool = False
    #: Seconds per phase, for the phases the cycle reached (a failed one up to its failure).
    phases: Mapping[Phase, float] = field(default_factory=dict)
    #: Connector files the cycle parsed; None when it did not get through loading them.
    files_parsed: int | None = None
    #: The `policies:` of cxrecon.yaml the cycle's plan breaks (reconciler.celpolicy).
    violations: tuple[Violation, ...] = ()

    @property
    def drifted(self) -> int:
        return sum(1 for c in self.connectors if c.origin in (Origin.DRIFT, Origin.CONFLICT))

    @property
    def deleted(self) -> tuple[ConnectorReport, ...]:
        """Connectors cxrecon managed that the plan found deleted in CXone."""
        return tuple(c for c in self.connectors if c.deleted)

    @property
    def applied(self) -> tuple[ConnectorReport, ...]:
        return tuple(c for c in self.connectors if c.result and c.result.outcome is Outcome.APPLIED)

    @property
    def writes(self) -> int:
        return sum(c.result.writes for c in self.connectors if c.result is not None)

    def of(self, decision: Decision) -> tuple[ConnectorReport, ...]:
        return tuple(c for c in self.connectors if c.decision is decision)

    @property
    def pending(self) -> tuple[ConnectorReport, ...]:
        """Connectors still out of sync after this cycle."""
        return tuple(
            c
            for c in self.connectors
            if c.decision not in (Decision.IN_SYNC, Decision.APPLY)
            or (c.result is not None and c.result.outcome is Outcome.FAILED)
        )

    def summary(self) -> str:
        head = f"cycle {self.number}"
        if self.commit:
            head += f" at {self.commit[:12]}"
        if self.result is CycleResult.FAILED:
            return f"{head}: failed after {self.duration:.1f}s: {self.error}"
        counts: dict[str, int] = {}
        for c in self.connectors:
            key = c.decision.value
            if c.result is not None:
                key = c.result.outcome.value
                if key == "in_line":  # not applied by this cycle: another writer did it
                    key = "already in line (by another writer)"
            counts[key] = counts.get(key, 0) + 1
        parts = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no connectors"
        extra = " (interrupted by shutdown)" if self.interrupted else ""
        if self.pull is not None and not self.pull.ok:
            extra += f"; {self.pull.message}"
        return (
            f"{head}: {self.result.value}: {parts}; {self.drifted} drifted, "
            f"{f'{len(self.deleted)} deleted in CXone, ' if self.deleted else ''}"
            f"{self.writes} writes in {self.duration:.1f}s{extra}"
        )
