"""`execute_plan`'s stop hook (the controller's SIGTERM): once `should_start` says no, no new
connector starts, and the ones already started finish every step."""

from __future__ import annotations

import asyncio

from reconciler.apply.results import Outcome
from reconciler.plan.changes import Plan
from reconciler.testing import RunningEmulator

from .helpers import Project, apply_with_hook, connector_doc, remote_connectors


def test_no_connector_starts_once_should_start_says_no(
    project: Project, emulator: RunningEmulator
) -> None:
    names = ["Alpha", "Bravo", "Charlie", "Delta"]
    for name in names:
        project.write(connector_doc(name))
    asked: list[int] = []

    def should_start() -> bool:
        asked.append(len(asked))
        return len(asked) <= 2  # the stop arrives while the third connector waits its turn

    def nothing(plan: Plan) -> None:
        pass

    plan, results = asyncio.run(
        apply_with_hook(project, emulator, nothing, parallelism=1, should_start=should_start)
    )
    assert len(plan.changes) == 4
    assert len(asked) == 4  # every connector asked once; only the first two were told yes
    assert len(results) == 2
    assert all(r.outcome is Outcome.APPLIED for r in results)
    remote = {c["name"]: c for c in remote_connectors(emulator.control)}
    assert set(remote) == {r.name for r in results}
    for connector in remote.values():  # started ones went all the way (DRAFT → ACTIVE)
        assert connector["lifecycleStatus"] == "ACTIVE"


def test_without_should_start_every_connector_runs(
    project: Project, emulator: RunningEmulator
) -> None:
    for name in ["Alpha", "Bravo", "Charlie"]:
        project.write(connector_doc(name))

    def nothing(plan: Plan) -> None:
        pass

    _, results = asyncio.run(apply_with_hook(project, emulator, nothing, parallelism=1))
    assert [r.outcome for r in results] == [Outcome.APPLIED] * 3
    assert len(remote_connectors(emulator.control)) == 3
