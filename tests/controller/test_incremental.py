"""The controller keeps its desired state between cycles: an unchanged commit parses no file,
a commit touching one file parses that file, renames, deletions and a changed cxrecon.yaml
are followed, and every cycle decides exactly what a controller loading every file would.
Cycles inside `Controller.run` share one API client and its token."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import pytest

from reconciler.controller.loop import Controller
from reconciler.controller.report import CycleReport, CycleResult
from reconciler.testing import RunningEmulator

from .helpers import ConnectorsRepo, ControllerFactory, connector_yaml, git

pytestmark = pytest.mark.anyio


async def fresh_cycle(make_controller: ControllerFactory) -> CycleReport:
    """What a controller that has kept nothing decides about the checkout as it is now."""
    return await make_controller(dry_run=True).cycle()


def same_decisions(kept: CycleReport, fresh: CycleReport) -> None:
    assert kept.result is fresh.result
    assert kept.error == fresh.error
    assert kept.connectors == fresh.connectors
    assert fresh.files_parsed is not None
    assert kept.files_parsed is not None


async def test_an_unchanged_commit_parses_nothing_and_a_one_file_commit_parses_one(
    make_controller: ControllerFactory, repo: ConnectorsRepo
) -> None:
    repo.commit(
        {
            "connectors/beta.yaml": connector_yaml("Beta"),
            "connectors/team/gamma.yaml": connector_yaml("Gamma"),
        }
    )
    controller = make_controller(dry_run=True)
    first = await controller.cycle()
    assert first.result is CycleResult.SUCCESS
    assert first.files_parsed == 3

    unchanged = await controller.cycle()
    assert unchanged.files_parsed == 0
    same_decisions(unchanged, await fresh_cycle(make_controller))

    repo.commit({"connectors/beta.yaml": connector_yaml("Beta", description="edited in git")})
    one = await controller.cycle()
    assert one.files_parsed == 1
    assert one.commit == repo.head()
    fresh = await fresh_cycle(make_controller)
    assert fresh.files_parsed == 3
    same_decisions(one, fresh)
    beta = next(c for c in one.connectors if c.name == "Beta")
    assert beta.description == "edited in git"


async def test_renames_deletions_and_additions_are_followed(
    make_controller: ControllerFactory, repo: ConnectorsRepo
) -> None:
    repo.commit(
        {
            "connectors/beta.yaml": connector_yaml("Beta"),
            "connectors/gamma.yaml": connector_yaml("Gamma"),
        }
    )
    controller = make_controller(dry_run=True)
    await controller.cycle()
    (repo.author / "connectors" / "team").mkdir()
    git(repo.author, "mv", "connectors/beta.yaml", "connectors/team/beta-renamed.yaml")
    repo.commit(
        {"connectors/gamma.yaml": None, "connectors/delta.yaml": connector_yaml("Delta")},
        message="rename beta, delete gamma, add delta",
    )

    report = await controller.cycle()

    assert report.files_parsed == 2  # the renamed file under its new name, and delta
    assert sorted(c.name for c in report.connectors) == ["Alpha", "Beta", "Delta"]
    beta = next(c for c in report.connectors if c.name == "Beta")
    assert beta.source is not None
    assert beta.source.endswith("team/beta-renamed.yaml")
    same_decisions(report, await fresh_cycle(make_controller))


async def test_a_changed_cxrecon_yaml_reloads_every_file(
    make_controller: ControllerFactory, repo: ConnectorsRepo
) -> None:
    repo.commit({"connectors/beta.yaml": connector_yaml("Beta")})
    controller = make_controller(dry_run=True)
    await controller.cycle()

    repo.commit({"cxrecon.yaml": "# only a comment, but cxrecon.yaml changed\n" + repo.project})
    report = await controller.cycle()

    assert report.files_parsed == 2
    same_decisions(report, await fresh_cycle(make_controller))
    assert (await controller.cycle()).files_parsed == 0


async def test_a_broken_file_fails_the_cycle_until_it_is_fixed(
    make_controller: ControllerFactory, repo: ConnectorsRepo
) -> None:
    repo.commit({"connectors/beta.yaml": connector_yaml("Beta")})
    controller = make_controller(dry_run=True)
    await controller.cycle()

    repo.commit({"connectors/beta.yaml": connector_yaml("Beta") + "lifecycleStatus: ACTIVE\n"})
    broken = await controller.cycle()
    assert broken.result is CycleResult.FAILED
    assert broken.files_parsed == 1
    assert broken.error is not None
    assert "connectors/beta.yaml:" in broken.error
    same_decisions(broken, await fresh_cycle(make_controller))
    # Still broken on the next cycle, from what was kept.
    again = await controller.cycle()
    assert (again.result, again.error, again.files_parsed) == (
        CycleResult.FAILED,
        broken.error,
        0,
    )

    repo.commit({"connectors/beta.yaml": connector_yaml("Beta", description="fixed")})
    fixed = await controller.cycle()
    assert fixed.result is CycleResult.SUCCESS
    assert fixed.files_parsed == 1
    same_decisions(fixed, await fresh_cycle(make_controller))


async def test_without_pull_a_file_edited_in_place_is_read_again(
    make_controller: ControllerFactory, repo: ConnectorsRepo
) -> None:
    controller = make_controller(dry_run=True, pull=False)
    assert (await controller.cycle()).files_parsed == 1
    assert (await controller.cycle()).files_parsed == 0

    alpha = repo.checkout / "connectors" / "alpha.yaml"
    alpha.write_text(connector_yaml("Alpha", description="edited by hand"))
    (repo.checkout / "connectors" / "untracked.yaml").write_text(connector_yaml("Untracked"))
    report = await controller.cycle()

    assert report.files_parsed == 2
    assert {c.name for c in report.connectors} == {"Alpha", "Untracked"}
    same_decisions(report, await make_controller(dry_run=True, pull=False).cycle())
    os.remove(repo.checkout / "connectors" / "untracked.yaml")
    gone = await controller.cycle()
    assert (gone.files_parsed, [c.name for c in gone.connectors]) == (0, ["Alpha"])


async def test_cycles_of_a_running_controller_share_one_client_and_token(
    make_controller: ControllerFactory, repo: ConnectorsRepo, emulator: RunningEmulator
) -> None:
    controller: Controller = make_controller(dry_run=True, interval=0.05)
    running = asyncio.create_task(controller.run())
    try:
        await asyncio.wait_for(controller.wait_for_cycle(2), 30)
        repo.commit({"connectors/beta.yaml": connector_yaml("Beta")})
        report = await asyncio.wait_for(
            _first(controller, lambda r: any(c.name == "Beta" for c in r.connectors)), 30
        )
    finally:
        controller.stop()
        await asyncio.wait_for(running, 30)
    assert report.files_parsed == 1
    requests = emulator.control.stats()["requests"]
    tokens = sum(requests.get("POST /api/v2/oauth/token", {}).values())
    lists = sum(requests.get("GET /api/v2/crm/connectors", {}).values())
    assert controller.cycles_finished >= 3
    assert lists >= controller.cycles_finished  # every cycle read the tenant...
    assert tokens == 1  # ...with the one token of the one client


async def _first(controller: Controller, done: Callable[[CycleReport], bool]) -> CycleReport:
    number = controller.cycles_finished
    while True:
        number += 1
        report = await controller.wait_for_cycle(number)
        if done(report):
            return report
