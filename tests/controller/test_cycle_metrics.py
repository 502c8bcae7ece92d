"""Each cycle times its phases (pull, load, fetch, plan, apply) and counts the connector files
it parsed; /metrics serves them as `cxrecon_cycle_duration_seconds{phase}` (together, the whole
cycle: no second histogram of it) and `cxrecon_cycle_files_parsed`."""

from __future__ import annotations

import httpx
import pytest

from reconciler.controller.health import HealthServer, ListenAddress
from reconciler.controller.loop import Controller
from reconciler.controller.report import CycleResult, Phase
from reconciler.testing import RunningEmulator

from .helpers import ConnectorsRepo, ControllerFactory, connector_yaml
from .test_endpoints import families, value

pytestmark = pytest.mark.anyio

PHASES = "cxrecon_cycle_duration_seconds"
FILES = "cxrecon_cycle_files_parsed"
#: /metrics parsed by `families`: family → (sample name, labels) → value.
Scraped = dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]
#: The emulator's delay on every answer, in the test that places the phase boundaries.
LATENCY = 0.2


async def scrape(controller: Controller) -> Scraped:
    server = HealthServer(ListenAddress("127.0.0.1", 0), controller)
    bound = await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bound.port}") as http:
            response = await http.get("/metrics")
    finally:
        await server.close()
    assert response.status_code == 200
    return families(response.text)


def phase_count(parsed: Scraped, phase: str) -> float:
    return value(parsed, PHASES, PHASES + "_count", phase=phase)


async def test_a_cycle_is_timed_by_phase_and_counts_its_connector_files(
    make_controller: ControllerFactory, repo: ConnectorsRepo
) -> None:
    repo.commit({"connectors/beta.yaml": connector_yaml("Beta")})
    controller = make_controller()

    report = await controller.cycle()

    assert report.result is CycleResult.SUCCESS
    assert set(report.phases) == set(Phase)
    assert report.files_parsed == 2
    # One after the other, the phases make up the cycle.
    assert sum(report.phases.values()) <= report.duration
    assert sum(report.phases.values()) == pytest.approx(report.duration, abs=0.25)
    m = await scrape(controller)
    for phase in ("pull", "load", "fetch", "plan", "apply"):
        assert phase_count(m, phase) == 1, phase
        assert value(m, PHASES, PHASES + "_sum", phase=phase) == pytest.approx(
            report.phases[Phase(phase)]
        )
    assert value(m, FILES, FILES) == 2
    assert "cxrecon_reconcile_cycle_duration_seconds" not in m


async def test_the_file_gauge_follows_the_repository(
    make_controller: ControllerFactory, repo: ConnectorsRepo
) -> None:
    controller = make_controller(dry_run=True)
    await controller.cycle()
    assert value(await scrape(controller), FILES, FILES) == 1

    repo.commit(
        {
            "connectors/beta.yaml": connector_yaml("Beta"),
            "connectors/team/gamma.yaml": connector_yaml("Gamma"),
        }
    )
    await controller.cycle()

    m = await scrape(controller)
    assert value(m, FILES, FILES) == 2  # the two new files; alpha.yaml is kept
    assert phase_count(m, "load") == 2

    await controller.cycle()  # nothing new
    assert value(await scrape(controller), FILES, FILES) == 0


async def test_a_cycle_that_fails_to_load_times_only_the_phases_it_reached(
    make_controller: ControllerFactory, repo: ConnectorsRepo
) -> None:
    controller = make_controller(dry_run=True)
    await controller.cycle()
    repo.commit({"connectors/alpha.yaml": "name: [broken\n"})

    failed = await controller.cycle()

    assert failed.result is CycleResult.FAILED
    assert set(failed.phases) == {Phase.PULL, Phase.LOAD}
    assert failed.files_parsed == 1  # the broken file, parsed and found invalid
    m = await scrape(controller)
    assert [phase_count(m, p) for p in ("pull", "load", "fetch", "plan", "apply")] == [
        2,
        2,
        1,
        1,
        1,
    ]
    assert value(m, FILES, FILES) == 1


async def test_time_spent_in_cxone_is_fetch_or_apply_never_plan(
    make_controller: ControllerFactory, emulator: RunningEmulator
) -> None:
    emulator.control.faults(latencyMs=int(LATENCY * 1000))
    controller = make_controller()

    report = await controller.cycle()  # lists (fetch), then creates Alpha (apply)

    assert report.result is CycleResult.SUCCESS
    assert report.phases[Phase.FETCH] >= LATENCY
    assert report.phases[Phase.APPLY] >= LATENCY
    assert report.phases[Phase.PLAN] < LATENCY
