"""A PlanRun's repr stays short: asyncio.run formats the main task's result (Python 3.11),
so a generated repr of thousands of connectors cost seconds and hundreds of MB."""

from __future__ import annotations

from reconciler.facade import PlanRun
from reconciler.load.desired import LoadResult
from reconciler.model import LABEL_APPLIED_DIGEST

from .helpers import CANARY, applied, checker, desired, edit_remote, make_plan, spec


def _run(count: int) -> PlanRun:
    specs = [spec(f"conn-{i:04d}") for i in range(count)]
    remote = [applied(s, cid=f"c-{i}") for i, s in enumerate(specs)]
    remote[0] = edit_remote(remote[0], description="edited by hand")
    loaded = LoadResult(
        connectors=tuple(desired(s) for s in specs), diagnostics=(), digest="d" * 64, files=()
    )
    plan = make_plan(specs, remote)
    return PlanRun(plan=plan, loaded=loaded, remote=tuple(remote), checker=checker())


def test_repr_counts_connectors_and_actions_without_listing_them() -> None:
    run = _run(300)
    text = repr(run)
    assert text == "PlanRun(desired=300, remote=300, changes=[update=1, no-op=299])"
    assert "conn-0001" not in text
    assert LABEL_APPLIED_DIGEST not in text
    assert CANARY not in text
