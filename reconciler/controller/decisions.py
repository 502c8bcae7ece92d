"""The controller's policy: which planned changes a cycle writes now, and why not the others
(origin, the approval the plan needs, sync windows, backoff), then what became of each."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from reconciler.apply.results import ConnectorResult, Outcome
from reconciler.config.durations import format_duration
from reconciler.config.windows import SyncWindow, evaluate
from reconciler.controller.backoff import ConnectorBackoff
from reconciler.controller.report import ConnectorReport, ControllerOptions, Decision
from reconciler.facade import Approval
from reconciler.model import LABEL_APPLIED_AT
from reconciler.plan.changes import Action, ConnectorChange, Plan
from reconciler.plan.diff import Origin

#: Why a connector that was to be written this cycle was not started.
_SHUTTING_DOWN = "not started: the controller is shutting down"


@dataclass(frozen=True)
class Decided:
    """One planned change and what the controller does with it this cycle."""

    change: ConnectorChange
    decision: Decision
    reason: str | None = None

    @property
    def selected(self) -> bool:
        """Handed to the apply: in-sync connectors go along (never written, but their result
        says whether their credentials could be verified)."""
        return self.decision in (Decision.APPLY, Decision.IN_SYNC)


@dataclass(frozen=True)
class Policy:
    """What the controller decides by: its flags, the sync windows, its backoff, the time."""

    options: ControllerOptions
    windows: Sequence[SyncWindow]
    environment: str | None
    backoff: ConnectorBackoff
    stopping: Callable[[], bool]
    now: dt.datetime

    def decide(self, plan: Plan, approval: Approval) -> list[Decided]:
        return [self._decision(plan, approval, change) for change in plan.changes]

    def _decision(self, plan: Plan, approval: Approval, change: ConnectorChange) -> Decided:
        decision, reason = self._why(plan, approval, change)
        return Decided(change, decision, reason)

    def _why(
        self, plan: Plan, approval: Approval, change: ConnectorChange
    ) -> tuple[Decision, str | None]:
        opts = self.options
        if change.action is Action.NOOP:
            return Decision.IN_SYNC, None
        if change.action is Action.ERROR:
            return Decision.ERROR, "; ".join(change.problems) or "cannot be planned"
        broken = [
            v for v in plan.violations if v.connector == change.name and v.severity == "error"
        ]
        if broken and change.action.writes:
            said = "; ".join(f"policy '{v.policy}': {v.message}" for v in broken)
            return Decision.POLICY, f"breaks {said}; fix the connector in git or the policy"
        if change.action is Action.OBSERVE:
            return Decision.REPORT, change.note  # never written, whatever the flags
        if change.action is Action.ORPHAN:
            note = f"managed by cxrecon but {change.orphan_note}"
            if change.remote is not None and change.remote.lifecycle == "INACTIVE":
                return Decision.IN_SYNC, note  # nothing left to do here, even with --prune
            return Decision.ORPHAN, note.replace("plan with --prune", "run with --prune")
        if opts.dry_run:
            return Decision.DRY_RUN, "planned only (--dry-run)"
        if not opts.self_heal and change.deleted is not None:
            return Decision.REPORT, f"{change.deleted.describe()}; --self-heal re-creates it"
        if not opts.self_heal and change.origin is not Origin.PENDING:
            return Decision.REPORT, _report_reason(change.origin)
        if approval.over_gate and not opts.allow_unsafe:
            return Decision.UNSAFE, (
                f"the plan is over the safety gate ({approval.gate_reasons}); confirm it with "
                "`cxrecon apply`, or run the controller with --allow-unsafe"
            )
        if not opts.ignore_windows:
            verdict = evaluate(self.windows, self.now, self.environment, change.name)
            if not verdict.allowed:
                return Decision.WINDOW, verdict.reason
        waiting = self.backoff.waiting(change.name)
        if waiting is not None:
            return Decision.BACKOFF, (
                f"failed {waiting.failures} time(s) in a row, next try in "
                f"{format_duration(self.backoff.remaining(waiting))} (last error: "
                f"{waiting.last_error})"
            )
        if self.stopping():
            return Decision.STOPPING, _SHUTTING_DOWN
        return Decision.APPLY, None


def reports_of(
    decided: Sequence[Decided],
    results: Mapping[str, ConnectorResult],
    backoff: ConnectorBackoff,
) -> tuple[ConnectorReport, ...]:
    """What became of each decision: its result, the backoff it starts or ends, and what the
    status page shows of it."""
    reports: list[ConnectorReport] = []
    for item in decided:
        change, decision, reason = item.change, item.decision, item.reason
        result = results.get(change.name)
        if decision is Decision.APPLY and result is None:
            decision, reason = Decision.STOPPING, _SHUTTING_DOWN
        if result is not None:
            if result.outcome is Outcome.FAILED:
                state = backoff.failed(change.name, result.reason or "failed")
                reason = (
                    f"{result.reason}; backing off "
                    f"{format_duration(backoff.policy.delay(state.failures))}"
                )
            else:
                backoff.succeeded(change.name)
                reason = reason or result.warning
        elif decision is Decision.IN_SYNC:
            backoff.succeeded(change.name)
        reports.append(
            ConnectorReport(
                name=change.name,
                action=change.action,
                origin=change.origin,
                decision=decision,
                reason=reason,
                fields=tuple(f.path for f in change.fields),
                result=result,
                changes=change.fields,
                lifecycle=change.remote.lifecycle if change.remote else None,
                deleted=change.deleted is not None,
                applied_at=(
                    change.remote.spec.labels.get(LABEL_APPLIED_AT) if change.remote else None
                ),
                source=change.desired.source.path if change.desired else None,
                description=(
                    change.desired.spec.description
                    if change.desired
                    else change.remote.spec.description
                    if change.remote
                    else None
                ),
            )
        )
    return tuple(reports)


def _report_reason(origin: Origin | None) -> str:
    if origin is Origin.DRIFT:
        return "changed in CXone since the last apply (drift); --self-heal reverts it"
    if origin is Origin.CONFLICT:
        return "changed in git and in CXone; --self-heal applies git's version"
    return (
        "not applied by cxrecon before (no applied-digest to tell drift from git changes); "
        "--self-heal or `cxrecon apply` takes it over"
    )
