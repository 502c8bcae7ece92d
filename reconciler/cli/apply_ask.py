"""`cxrecon apply`'s question: asked from the approval the facade says a plan needs
(reconciler.facade.Approval), on a terminal; where nobody can answer, one line saying why not."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from reconciler.errors import NotConfirmed

if TYPE_CHECKING:
    from reconciler.facade import Approval, StaleRule

#: What follows "the saved plan is stale" under each `--if-stale` that goes on.
_PLANNING_AGAIN = {
    "replan": "Planning again (--replan); the new plan has not been reviewed.",
    "reviewed": "Planning again; only what was reviewed will be applied.",
}


def stale_note(reason: str, if_stale: StaleRule) -> str:
    """Why a saved plan is stale, and what this apply does instead."""
    return f"{reason}\n{_PLANNING_AGAIN.get(if_stale, '')}"


def confirm(approval: Approval, *, allow_unsafe: bool, auto_approve: bool) -> None:
    """Return once `approval` is given; NotConfirmed (nothing written) otherwise.

    A reviewed plan needs no question, unless it is over the safety gate: then
    `--allow-unsafe` or a person's yes (a saved plan's review does not cover the gate), and
    `--allow-unsafe` never covers a fresh plan that replaced a stale saved one. Any other
    plan needs `--auto-approve` or a yes on the terminal.
    """
    reviewed = approval.reviewed
    if approval.over_gate and allow_unsafe and approval.unseen:
        # The approval was given for the saved plan; this one replaced it unseen.
        raise NotConfirmed(
            f"the saved plan {approval.saved or ''} is stale and the new plan is over the "
            f"safety gate ({approval.gate_reasons}); --allow-unsafe approved the saved plan, "
            "not this one. Review the new plan (`cxrecon plan --out`), then apply it"
        )
    if approval.over_gate and not allow_unsafe:
        if not _interactive():
            raise NotConfirmed(
                f"the plan is over the safety gate ({approval.gate_reasons}); review it and "
                "re-run with --allow-unsafe to apply it anyway"
            )
        click.echo(
            f"Warning: this plan is over the safety gate: {approval.gate_reasons}.", err=True
        )
        reviewed = False  # a person must say yes to an unsafe plan even if it was saved
    if reviewed or auto_approve:
        return
    if not _interactive():
        raise NotConfirmed(
            "stdin is not a terminal, so apply cannot ask for confirmation: pass "
            "--auto-approve, or apply a reviewed plan with `cxrecon plan --out plan.json` "
            "then `cxrecon apply --plan plan.json`"
        )
    where = f" to environment {approval.environment}" if approval.environment else ""
    if not click.confirm(f"Apply these changes{where}?", default=False, err=True):
        raise NotConfirmed("apply cancelled; nothing was written")


def _interactive() -> bool:
    return sys.stdin.isatty()
