"""What writing a plan needs approved, and why, as one value: `apply_desired` makes it once and
hands it to `ApplyHooks.confirm`; `cxrecon apply` asks from it, the controller applies its own
policy to it (reconciler.controller.decisions)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler.plan.changes import Plan


@dataclass(frozen=True)
class Approval:
    """The approval a plan needs: nothing when it writes nothing; a reviewed plan is approved
    by its review unless it is over the safety gate; a fresh plan that replaced a stale saved
    one was never seen, so an approval given for the saved plan does not carry over."""

    #: Changes that would write (0: there is nothing to approve).
    writes: int
    #: The plan is what was reviewed: a verified saved plan, or the part of a stale one that
    #: is exactly as reviewed (`if_stale="reviewed"`).
    reviewed: bool = False
    #: A stale saved plan was replaced by a fresh plan (`if_stale` "replan" or "reviewed").
    replanned: bool = False
    #: Why the plan is over the safety gate (too large a share of the managed connectors
    #: changed, ACTIVE connectors stopped); empty when it is under.
    gate: tuple[str, ...] = ()
    #: The environment the plan writes to (what the question names).
    environment: str | None = None
    #: The saved plan applied, if any (what a refusal about it names).
    saved: Path | None = None

    @property
    def needed(self) -> bool:
        return self.writes > 0

    @property
    def over_gate(self) -> bool:
        return bool(self.gate)

    @property
    def gate_reasons(self) -> str:
        return "; ".join(self.gate)

    @property
    def unseen(self) -> bool:
        """A fresh plan nobody reviewed stands in for the saved plan that was approved."""
        return self.replanned and not self.reviewed


def approval_of(
    plan: Plan, *, reviewed: bool = False, replanned: bool = False, saved: Path | None = None
) -> Approval:
    """The approval `plan` needs (its safety verdict is judged on git and the tenant as they
    are, never taken from a saved file)."""
    return Approval(
        writes=sum(1 for change in plan.changes if change.action.writes),
        reviewed=reviewed,
        replanned=replanned,
        gate=plan.safety.reasons if plan.safety.over else (),
        environment=plan.environment,
        saved=saved,
    )
