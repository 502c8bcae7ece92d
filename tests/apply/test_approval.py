"""The approval a plan needs is one value the facade makes (reconciler.facade.Approval): what
`hooks.confirm` is shown and `ApplyRun` returns, and what `cxrecon apply` asks from."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import reconciler
from reconciler.facade import ApplyHooks, ApplyOptions, Approval, read_saved_plan
from reconciler.plan.changes import Plan
from reconciler.testing import RunningEmulator

from .helpers import Project, connector_doc, run_cli, write_count


def _apply(
    project: Project,
    emulator: RunningEmulator,
    *,
    saved: Path | None = None,
    options: ApplyOptions | None = None,
) -> tuple[Approval, reconciler.ApplyRun]:
    shown: list[Approval] = []

    def confirm(plan: Plan, approval: Approval) -> None:
        shown.append(approval)

    async def go() -> reconciler.ApplyRun:
        proj = reconciler.open_project(project.root)
        settings = reconciler.ConnectionSettings.for_emulator(emulator.base_url)
        async with reconciler.connect(settings) as client:
            return await reconciler.apply_desired(
                proj,
                client,
                reconciler.load_desired(proj),
                secrets=reconciler.secrets_for(proj),
                options=options or ApplyOptions(),
                hooks=ApplyHooks(confirm=confirm),
                saved=read_saved_plan(saved) if saved is not None else None,
            )

    run = asyncio.run(go())
    (approval,) = shown
    assert run.approval == approval  # the value confirm saw is the one returned
    return approval, run


def _reviewed(project: Project, doc: dict[str, Any]) -> Path:
    """`doc` with a new description, planned and saved (the plan a reviewer approved)."""
    project.write({**doc, "description": "reviewed"})
    saved = project.root / "plan.json"
    assert run_cli(["plan", "--out", str(saved)]).exit_code == 0
    return saved


def test_a_fresh_plan_needs_approval_and_a_verified_saved_plan_is_approved_by_its_review(
    project: Project, emulator: RunningEmulator
) -> None:
    doc = connector_doc("Alpha")
    project.write(doc)

    fresh, _ = _apply(project, emulator)

    assert (fresh.needed, fresh.writes, fresh.reviewed, fresh.replanned) == (True, 1, False, False)
    assert not fresh.over_gate

    saved = _reviewed(project, doc)

    approval, run = _apply(project, emulator, saved=saved)

    assert (approval.reviewed, approval.unseen, approval.saved) == (True, False, saved)
    assert approval.writes == 1
    assert run.report.ok


def test_a_stale_saved_plan_replaced_by_a_fresh_plan_is_unseen(
    project: Project, emulator: RunningEmulator
) -> None:
    doc = connector_doc("Alpha")
    project.write(doc)
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    saved = _reviewed(project, doc)
    project.write({**doc, "description": "committed after the review"})

    approval, _ = _apply(project, emulator, saved=saved, options=ApplyOptions(if_stale="replan"))

    assert (approval.replanned, approval.reviewed, approval.unseen) == (True, False, True)


def test_a_plan_over_the_safety_gate_says_why_and_only_the_caller_refuses_it(
    project: Project, emulator: RunningEmulator
) -> None:
    doc = connector_doc("Alpha")
    project.write(doc)
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    project.write({**doc, "lifecycleStatus": "INACTIVE"})
    writes = write_count(emulator.control)

    approval, run = _apply(project, emulator)

    assert approval.over_gate
    assert approval.gate == ("ACTIVE connectors would be deactivated: Alpha",)
    assert approval.gate_reasons in run.plan.safety.reasons
    # The facade decides nothing: a caller's confirm refuses (this one accepts everything).
    assert write_count(emulator.control) > writes
