"""The reconcile loop against the emulator on a real port, with a real git repository."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import time

import pytest

from reconciler.apply.results import Outcome
from reconciler.controller.backoff import BackoffPolicy
from reconciler.controller.health import ListenAddress
from reconciler.controller.report import ConnectorReport, CycleResult, Decision
from reconciler.plan.diff import Origin
from reconciler.testing import RunningEmulator

from .helpers import (
    CANARY,
    ConnectorsRepo,
    ControllerFactory,
    FakeClock,
    connector_yaml,
    cycles_until,
    remote_connectors,
    writes_seen,
)

pytestmark = pytest.mark.anyio


def by_name(connectors: tuple[ConnectorReport, ...], name: str) -> ConnectorReport:
    for c in connectors:
        if c.name == name:
            return c
    raise AssertionError(f"{name} not in the report")


def outcome(connectors: tuple[ConnectorReport, ...], name: str) -> Outcome | None:
    result = by_name(connectors, name).result
    return None if result is None else result.outcome


async def test_new_commit_is_applied_within_one_interval(
    make_controller: ControllerFactory, repo: ConnectorsRepo, emulator: RunningEmulator
) -> None:
    controller = make_controller(interval=1.0)
    task = asyncio.create_task(controller.run())
    try:
        first = await asyncio.wait_for(controller.wait_for_cycle(1), 20)
        assert first.result is CycleResult.SUCCESS
        assert set(remote_connectors(emulator)) == {"Alpha"}

        commit = repo.commit({"connectors/beta.yaml": connector_yaml("Beta")}, "add Beta")
        pushed = time.monotonic()
        report = await asyncio.wait_for(controller.wait_for_cycle(2), 20)
        elapsed = time.monotonic() - pushed
    finally:
        controller.stop()
        await asyncio.wait_for(task, 20)

    assert report.commit == commit
    beta = by_name(report.connectors, "Beta")
    assert beta.decision is Decision.APPLY
    assert outcome(report.connectors, "Beta") is Outcome.APPLIED
    assert elapsed < 1.0 + 2.0  # the very next cycle, one interval later (plus its run time)
    assert remote_connectors(emulator)["Beta"]["lifecycleStatus"] == "ACTIVE"


async def test_out_of_band_edit_is_only_reported_without_self_heal(
    make_controller: ControllerFactory, emulator: RunningEmulator
) -> None:
    controller = make_controller(self_heal=False)
    await controller.cycle()
    alpha_id = remote_connectors(emulator)["Alpha"]["id"]
    emulator.control.edit(alpha_id, {"description": "edited in the CXone UI"})
    before = writes_seen(emulator)

    report = await controller.cycle()

    alpha = by_name(report.connectors, "Alpha")
    assert alpha.decision is Decision.REPORT
    assert alpha.origin is Origin.DRIFT
    assert "description" in alpha.fields
    assert "--self-heal" in (alpha.reason or "")
    assert report.drifted == 1
    assert report.result is CycleResult.SUCCESS
    assert writes_seen(emulator) == before
    assert remote_connectors(emulator)["Alpha"]["description"] == "edited in the CXone UI"


async def test_out_of_band_edit_is_healed_with_self_heal(
    make_controller: ControllerFactory, emulator: RunningEmulator
) -> None:
    controller = make_controller(self_heal=True)
    await controller.cycle()
    alpha_id = remote_connectors(emulator)["Alpha"]["id"]
    emulator.control.edit(alpha_id, {"description": "edited in the CXone UI"})

    report = await controller.cycle()

    alpha = by_name(report.connectors, "Alpha")
    assert alpha.decision is Decision.APPLY
    assert outcome(report.connectors, "Alpha") is Outcome.APPLIED
    assert remote_connectors(emulator)["Alpha"]["description"] == "managed by git"
    healed = await controller.cycle()
    assert healed.of(Decision.IN_SYNC)
    assert healed.drifted == 0
    records = [json.loads(line) for line in controller.options.audit_log.read_text().splitlines()]
    updates = [r for r in records if r["connector"] == "Alpha" and r["action"] == "update"]
    assert [(r["event"], r["result"]) for r in updates] == [
        ("intent", "pending"),  # on disk before the write was sent
        ("outcome", "success"),
    ]
    assert updates[0]["command"] == "reconcile"
    assert "description" in updates[0]["fields"]
    assert CANARY not in controller.options.audit_log.read_text()


async def test_a_deny_window_blocks_writes_until_it_closes(
    make_controller: ControllerFactory, repo: ConnectorsRepo, emulator: RunningEmulator
) -> None:
    repo.commit(
        {
            "cxrecon.yaml": (
                "connectors: connectors/\n"
                "syncWindows:\n"
                "  - kind: deny\n"
                "    schedule: '0 12 * * *'\n"
                "    duration: 2h\n"
                "    description: lunch freeze\n"
            )
        }
    )
    clock = FakeClock(dt.datetime(2025, 6, 2, 12, 30, tzinfo=dt.UTC))
    controller = make_controller(clock=clock)

    blocked = await controller.cycle()

    alpha = by_name(blocked.connectors, "Alpha")
    assert alpha.decision is Decision.WINDOW
    assert "lunch freeze" in (alpha.reason or "")
    assert "14:00" in (alpha.reason or "")
    assert writes_seen(emulator) == 0
    assert remote_connectors(emulator) == {}

    clock.wall = dt.datetime(2025, 6, 2, 14, 0, tzinfo=dt.UTC)
    opened = await controller.cycle()
    assert outcome(opened.connectors, "Alpha") is Outcome.APPLIED


async def test_outside_every_allow_window_changes_are_planned_not_applied(
    make_controller: ControllerFactory, repo: ConnectorsRepo, emulator: RunningEmulator
) -> None:
    repo.commit(
        {
            "cxrecon.yaml": (
                "connectors: connectors/\n"
                "syncWindows:\n"
                "  - {kind: allow, schedule: '0 22 * * *', duration: 8h, "
                "timeZone: Europe/Berlin}\n"
            )
        }
    )
    clock = FakeClock(dt.datetime(2025, 6, 2, 12, 0, tzinfo=dt.UTC))
    report = await make_controller(clock=clock).cycle()

    alpha = by_name(report.connectors, "Alpha")
    assert alpha.decision is Decision.WINDOW
    assert "outside every allow window" in (alpha.reason or "")
    assert alpha.action.value == "create"
    assert writes_seen(emulator) == 0


async def test_ignore_windows_overrides_a_deny_window(
    make_controller: ControllerFactory, repo: ConnectorsRepo, emulator: RunningEmulator
) -> None:
    repo.commit(
        {"cxrecon.yaml": ("syncWindows:\n  - {kind: deny, schedule: '* * * * *', duration: 1h}\n")}
    )
    report = await make_controller(ignore_windows=True).cycle()
    assert outcome(report.connectors, "Alpha") is Outcome.APPLIED
    assert "Alpha" in remote_connectors(emulator)


async def test_a_failed_pull_is_reported_and_the_last_good_commit_is_used(
    make_controller: ControllerFactory, repo: ConnectorsRepo, emulator: RunningEmulator
) -> None:
    controller = make_controller()
    first = await controller.cycle()
    good = repo.head()
    repo.commit({"connectors/beta.yaml": connector_yaml("Beta")}, "never pulled")
    shutil.move(repo.origin, repo.origin.with_name("gone.git"))  # the remote is unreachable

    report = await controller.cycle()

    assert first.commit == good
    assert report.pull is not None
    assert not report.pull.ok
    assert "git pull failed" in report.pull.message
    assert report.commit == good
    assert report.result is CycleResult.PARTIAL  # a failed pull is not a clean cycle
    assert [c.name for c in report.connectors] == ["Alpha"]
    assert "Beta" not in remote_connectors(emulator)
    text = controller.prometheus.render().decode()
    assert 'cxrecon_git_pulls_total{result="failure"} 1.0' in text


async def test_readyz_flips_when_a_cycle_fails_and_back_when_one_succeeds(
    make_controller: ControllerFactory, repo: ConnectorsRepo
) -> None:
    import httpx

    controller = make_controller(interval=0.3)
    task = asyncio.create_task(controller.run(listen=ListenAddress("127.0.0.1", 0)))
    try:
        await asyncio.wait_for(controller.wait_for_cycle(1), 20)
        assert controller.listening is not None
        url = f"http://127.0.0.1:{controller.listening.port}"
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/readyz")).status_code == 200
            assert (await http.get("/healthz")).text == "ok\n"

            repo.commit({"connectors/alpha.yaml": "name: Alpha\nlifecycleStatus: [broken\n"})
            done = controller.cycles_finished
            failed = await cycles_until(
                controller, lambda r: r.result is CycleResult.FAILED, after=done
            )
            ready = await http.get("/readyz")
            assert ready.status_code == 503
            assert "alpha.yaml" in ready.text
            assert "failed" in ready.text
            assert failed.error is not None

            repo.commit({"connectors/alpha.yaml": connector_yaml("Alpha")}, "fix")
            await cycles_until(
                controller,
                lambda r: r.result is CycleResult.SUCCESS,
                after=controller.cycles_finished,
            )
            assert (await http.get("/readyz")).status_code == 200
    finally:
        controller.stop()
        await asyncio.wait_for(task, 20)


async def test_readyz_fails_when_no_cycle_succeeded_for_n_intervals(
    make_controller: ControllerFactory,
) -> None:
    clock = FakeClock()
    controller = make_controller(clock=clock, interval=60.0, ready_factor=3.0)
    assert controller.readiness()[0] is False
    await controller.cycle()
    assert controller.readiness()[0] is True
    clock.skip(181.0)
    ready, why = controller.readiness()
    assert ready is False
    assert "no successful cycle for 3m1s" in why


async def test_backoff_skips_a_broken_connector_while_the_others_apply(
    make_controller: ControllerFactory, repo: ConnectorsRepo, emulator: RunningEmulator
) -> None:
    repo.commit(
        {
            "connectors/broken.yaml": connector_yaml("Broken", key_var="UNSET_SECRET_VAR"),
            "connectors/beta.yaml": connector_yaml("Beta"),
        }
    )
    clock = FakeClock()
    controller = make_controller(
        clock=clock, backoff=BackoffPolicy(base_seconds=60, cap_seconds=300)
    )

    first = await controller.cycle()
    broken = by_name(first.connectors, "Broken")
    assert first.result is CycleResult.PARTIAL
    assert outcome(first.connectors, "Broken") is Outcome.FAILED
    assert "UNSET_SECRET_VAR" in (broken.reason or "")
    assert "backing off 1m" in (broken.reason or "")
    assert set(remote_connectors(emulator)) == {"Alpha", "Beta"}

    second = await controller.cycle()
    skipped = by_name(second.connectors, "Broken")
    assert skipped.decision is Decision.BACKOFF
    assert skipped.result is None
    assert "next try in" in (skipped.reason or "")
    assert b"cxrecon_backoff_connectors 1.0" in controller.prometheus.render()

    clock.skip(61)
    third = await controller.cycle()
    retried = by_name(third.connectors, "Broken")
    assert outcome(third.connectors, "Broken") is Outcome.FAILED
    assert "backing off 2m" in (retried.reason or "")
    assert controller.backoff.states()["Broken"].failures == 2


async def test_without_self_heal_only_git_changes_are_written_not_adoptions(
    make_controller: ControllerFactory, emulator: RunningEmulator
) -> None:
    emulator.control.seed(
        {
            "name": "Alpha",
            "lifecycleStatus": "DRAFT",
            "connectorType": "CUSTOM",
            "endpointUrl": "https://crm.example/created-by-hand",
            "authentication": {"type": "API_KEY", "credentials": {"apiKey": "x"}},
            "mappings": [
                {"cxoneField": "contact.external_id", "crmField": "id", "direction": "INBOUND"}
            ],
        }
    )
    report = await make_controller().cycle()
    alpha = by_name(report.connectors, "Alpha")
    assert alpha.action.value == "adopt"
    assert alpha.decision is Decision.REPORT
    assert writes_seen(emulator) == 0


async def test_dry_run_plans_and_never_writes(
    make_controller: ControllerFactory, emulator: RunningEmulator
) -> None:
    controller = make_controller(dry_run=True, self_heal=True)
    report = await controller.cycle()
    assert by_name(report.connectors, "Alpha").decision is Decision.DRY_RUN
    assert writes_seen(emulator) == 0
    assert not controller.options.audit_log.exists()


async def test_trigger_starts_the_next_cycle_at_once(make_controller: ControllerFactory) -> None:
    controller = make_controller(interval=3600.0)
    task = asyncio.create_task(controller.run())
    try:
        await asyncio.wait_for(controller.wait_for_cycle(1), 20)
        controller.trigger()
        second = await asyncio.wait_for(controller.wait_for_cycle(2), 10)
        assert second.number == 2
    finally:
        controller.stop()
        await asyncio.wait_for(task, 20)


async def test_a_plan_over_the_safety_gate_waits_for_allow_unsafe(
    make_controller: ControllerFactory, repo: ConnectorsRepo, emulator: RunningEmulator
) -> None:
    await make_controller().cycle()  # Alpha is ACTIVE
    repo.commit({"connectors/alpha.yaml": connector_yaml("Alpha", status="INACTIVE")})

    gated = await make_controller().cycle()
    alpha = by_name(gated.connectors, "Alpha")
    assert alpha.decision is Decision.UNSAFE
    assert "--allow-unsafe" in (alpha.reason or "")
    assert remote_connectors(emulator)["Alpha"]["lifecycleStatus"] == "ACTIVE"

    allowed = await make_controller(allow_unsafe=True).cycle()
    assert outcome(allowed.connectors, "Alpha") is Outcome.APPLIED
    assert remote_connectors(emulator)["Alpha"]["lifecycleStatus"] == "INACTIVE"


async def test_in_sync_connectors_whose_secret_is_missing_are_a_warning_like_apply_says(
    make_controller: ControllerFactory,
) -> None:
    await make_controller().cycle()
    report = await make_controller(environ={}).cycle()
    alpha = by_name(report.connectors, "Alpha")
    assert alpha.decision is Decision.IN_SYNC
    assert "credentials unverified" in (alpha.reason or "")
    assert "CRM_API_KEY" in (alpha.reason or "")
    assert report.result is CycleResult.SUCCESS


async def test_an_inactive_orphan_is_in_sync_so_once_converges_with_prune(
    make_controller: ControllerFactory, repo: ConnectorsRepo, emulator: RunningEmulator
) -> None:
    repo.commit({"connectors/beta.yaml": connector_yaml("Beta")}, "add Beta")
    await make_controller().cycle()
    repo.commit({"connectors/beta.yaml": None}, "remove Beta")

    pruned = await make_controller(prune=True, self_heal=True, allow_unsafe=True).cycle()
    assert outcome(pruned.connectors, "Beta") is Outcome.APPLIED
    assert remote_connectors(emulator)["Beta"]["lifecycleStatus"] == "INACTIVE"

    again = await make_controller(prune=True, self_heal=True).cycle()
    beta = by_name(again.connectors, "Beta")
    assert beta.decision is Decision.IN_SYNC
    assert "already INACTIVE" in (beta.reason or "")
    assert "--prune" not in (beta.reason or "")
    assert again.pending == ()


async def test_an_observed_connector_is_never_written_even_with_self_heal(
    make_controller: ControllerFactory, repo: ConnectorsRepo, emulator: RunningEmulator
) -> None:
    await make_controller().cycle()
    before = remote_connectors(emulator)["Alpha"]
    observed = connector_yaml("Alpha") + "management: observe\n"
    repo.commit({"connectors/alpha.yaml": observed.replace("ACTIVE", "INACTIVE")})

    report = await make_controller(self_heal=True, allow_unsafe=True).cycle()

    alpha = by_name(report.connectors, "Alpha")
    assert alpha.decision is Decision.REPORT
    assert "observe" in (alpha.reason or "")
    assert alpha.result is None
    assert remote_connectors(emulator)["Alpha"]["etag"] == before["etag"]
