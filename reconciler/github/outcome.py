"""cxrecon's exit codes (the README's command table) mapped to what a workflow reports: a
status word for outputs, a line for people, and whether the job should fail."""

from __future__ import annotations

from enum import Enum


class PlanOutcome(Enum):
    """`cxrecon plan --detailed-exitcode`: 0 no changes, 2 changes, 3 over the gate, else error."""

    NO_CHANGES = "no-changes"
    CHANGES = "changes"
    OVER_GATE = "over-gate"
    ERROR = "error"

    @classmethod
    def from_exit_code(cls, code: int) -> PlanOutcome:
        # Anything unexpected (1, a signal's 137, a crash) is an error: never report "no changes".
        return {0: cls.NO_CHANGES, 2: cls.CHANGES, 3: cls.OVER_GATE}.get(code, cls.ERROR)

    @property
    def headline(self) -> str:
        return {
            PlanOutcome.NO_CHANGES: "✅ No changes: the tenant already matches this branch.",
            PlanOutcome.CHANGES: "📝 Changes to review: merging applies them.",
            PlanOutcome.OVER_GATE: "🛑 Changes over the safety gate: review with extra care.",
            PlanOutcome.ERROR: "❌ The plan failed: nothing below reflects this commit.",
        }[self]

    def fails_job(self, *, over_gate_approved: bool) -> bool:
        """A plan error always fails; over the gate fails until a maintainer approves it."""
        if self is PlanOutcome.ERROR:
            return True
        return self is PlanOutcome.OVER_GATE and not over_gate_approved


class DriftOutcome(Enum):
    """`cxrecon drift`: 0 in sync, 2 drift, anything else an error."""

    IN_SYNC = "in-sync"
    DRIFT = "drift"
    ERROR = "error"

    @classmethod
    def from_exit_code(cls, code: int) -> DriftOutcome:
        return {0: cls.IN_SYNC, 2: cls.DRIFT}.get(code, cls.ERROR)

    @property
    def fails_job(self) -> bool:
        # Drift is reported through its issue; only "could not tell" makes the run red.
        return self is DriftOutcome.ERROR


class ApplyOutcome(Enum):
    """`cxrecon apply`: 0 everything applied, anything else a failure."""

    APPLIED = "applied"
    FAILED = "failed"

    @classmethod
    def from_exit_code(cls, code: int) -> ApplyOutcome:
        return cls.APPLIED if code == 0 else cls.FAILED

    @property
    def fails_job(self) -> bool:
        return self is ApplyOutcome.FAILED
