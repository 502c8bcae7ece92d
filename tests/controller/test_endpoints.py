"""Backoff arithmetic, the HTTP endpoints, and metrics that agree with the cycles that ran."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.controller.backoff import BackoffPolicy, ConnectorBackoff
from reconciler.controller.health import HealthServer, ListenAddress, parse_listen
from reconciler.controller.report import CycleResult
from reconciler.errors import ConfigError
from reconciler.testing import RunningEmulator

from .helpers import CANARY, ConnectorsRepo, ControllerFactory, connector_yaml, remote_connectors

pytestmark = pytest.mark.anyio


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    policy = BackoffPolicy(base_seconds=30, cap_seconds=600)
    assert [policy.delay(n) for n in range(0, 8)] == [0, 30, 60, 120, 240, 480, 600, 600]
    assert policy.delay(10_000) == 600


def test_backoff_expires_and_a_success_resets_it() -> None:
    now = [100.0]
    backoff = ConnectorBackoff(BackoffPolicy(base_seconds=10, cap_seconds=100), lambda: now[0])
    backoff.failed("A", "boom")
    backoff.failed("A", "boom again")
    state = backoff.waiting("A")
    assert state is not None
    assert state.failures == 2
    assert state.last_error == "boom again"
    assert backoff.remaining(state) == 20
    now[0] += 20
    assert backoff.waiting("A") is None  # expired: tried again, failures remembered
    assert backoff.failed("A", "x").failures == 3
    backoff.succeeded("A")
    assert backoff.waiting("A") is None
    assert backoff.failed("A", "x").failures == 1


def test_backoff_forgets_connectors_that_are_gone() -> None:
    backoff = ConnectorBackoff(BackoffPolicy(), lambda: 0.0)
    backoff.failed("Kept", "x")
    backoff.failed("Renamed", "x")
    backoff.keep_only(["Kept", "Other"])
    assert set(backoff.states()) == {"Kept"}


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [("127.0.0.1:9108", "127.0.0.1", 9108), ("[::1]:0", "::1", 0), ("0.0.0.0:80", "0.0.0.0", 80)],  # noqa: S104
)
def test_listen_addresses_parse(text: str, host: str, port: int) -> None:
    assert parse_listen(text) == ListenAddress(host, port)


@pytest.mark.parametrize("text", ["9108", "example.com:9108", "127.0.0.1:99999", "1.2.3.4:x"])
def test_bad_listen_addresses_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="--listen"):
        parse_listen(text)


def test_listen_off_disables_the_server() -> None:
    assert parse_listen("off") is None


async def test_endpoints_answer_probes_and_refuse_what_they_do_not_serve(
    make_controller: ControllerFactory,
) -> None:
    controller = make_controller()
    server = HealthServer(ListenAddress("127.0.0.1", 0), controller)
    bound = await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bound.port}") as http:
            assert (await http.get("/healthz")).text == "ok\n"
            not_ready = await http.get("/readyz")
            assert not_ready.status_code == 503
            assert "first cycle" in not_ready.text
            assert (await http.post("/healthz")).status_code == 405
            missing = await http.get("/nope")
            assert missing.status_code == 404
            assert "/metrics" in missing.text
            head = await http.head("/readyz")
            assert head.status_code == 503
            assert head.content == b""
            await controller.cycle()
            assert (await http.get("/readyz?verbose=1")).status_code == 200
        # A client that sends garbage or nothing at all gets an answer or a closed socket.
        reader, writer = await asyncio.open_connection("127.0.0.1", bound.port)
        writer.write(b"NONSENSE\r\n\r\n")
        await writer.drain()
        assert (await reader.read()).startswith(b"HTTP/1.1 400")
        writer.close()
        await writer.wait_closed()
    finally:
        await server.close()


async def test_a_port_in_use_is_a_clear_error(make_controller: ControllerFactory) -> None:
    controller = make_controller()
    first = HealthServer(ListenAddress("127.0.0.1", 0), controller)
    bound = await first.start()
    try:
        with pytest.raises(ConfigError, match=r"cannot listen on 127\.0\.0\.1"):
            await HealthServer(bound, controller).start()
    finally:
        await first.close()


def families(text: str) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    out: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            out.setdefault(family.name, {})[key] = sample.value
    return out


def value(
    parsed: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]],
    family: str,
    sample: str,
    **labels: str,
) -> float:
    return parsed[family][(sample, tuple(sorted(labels.items())))]


async def test_metrics_reflect_the_cycles_that_ran(
    make_controller: ControllerFactory, repo: ConnectorsRepo, emulator: RunningEmulator
) -> None:
    repo.commit({"connectors/beta.yaml": connector_yaml("Beta")})
    controller = make_controller()
    server = HealthServer(ListenAddress("127.0.0.1", 0), controller)
    bound = await server.start()
    try:
        await controller.cycle()  # creates Alpha and Beta
        emulator.control.edit(remote_connectors(emulator)["Alpha"]["id"], {"description": "ui"})
        await controller.cycle()  # reports the drift
        repo.commit({"connectors/alpha.yaml": "name: [broken\n"})
        await controller.cycle()  # fails: invalid desired state
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bound.port}") as http:
            response = await http.get("/metrics")
    finally:
        await server.close()

    text = response.text
    m = families(text)
    started = "cxrecon_reconcile_cycles_started"
    assert value(m, started, started + "_total") == 3
    cycles = "cxrecon_reconcile_cycles"
    assert value(m, cycles, cycles + "_total", result="success") == 2
    assert value(m, cycles, cycles + "_total", result="failed") == 1
    assert value(m, cycles, cycles + "_total", result="partial") == 0
    applied = "cxrecon_applied_changes"
    assert value(m, applied, applied + "_total", action="create") == 2
    assert value(m, "cxrecon_api_writes", "cxrecon_api_writes_total") == 4
    # Gauges keep the last plan's figures through a failed cycle.
    assert value(m, "cxrecon_drifted_connectors", "cxrecon_drifted_connectors") == 1
    out = "cxrecon_out_of_sync_connectors"
    assert value(m, out, out, reason="report") == 1
    assert value(m, out, out, reason="window") == 0
    ok_at = value(
        m,
        "cxrecon_reconcile_last_success_timestamp_seconds",
        "cxrecon_reconcile_last_success_timestamp_seconds",
    )
    assert ok_at > 1.7e9
    phases = "cxrecon_cycle_duration_seconds"
    assert value(m, phases, phases + "_count", phase="pull") == 3
    # API figures by operation come from the client's own accounting.
    snapshot = controller.stats.snapshot()
    requests = "cxrecon_api_requests"
    assert value(m, requests, requests + "_total", operation="list_connectors") == 2
    for name, op in snapshot.operations.items():
        assert value(m, requests, requests + "_total", operation=name) == op.requests
        assert (
            value(m, "cxrecon_api_rate_limited", "cxrecon_api_rate_limited_total", operation=name)
            == op.rate_limited
        )
        assert (
            value(m, "cxrecon_api_retries", "cxrecon_api_retries_total", operation=name)
            == op.retries
        )
    assert value(m, "cxrecon_git_pulls", "cxrecon_git_pulls_total", result="success") == 3
    assert CANARY not in text


async def test_a_pull_that_keeps_failing_turns_readyz_off_and_cycles_partial(
    make_controller: ControllerFactory, repo: ConnectorsRepo
) -> None:
    controller = make_controller(dry_run=True, max_pull_failures=3)
    server = HealthServer(ListenAddress("127.0.0.1", 0), controller)
    bound = await server.start()
    gone = repo.origin.with_name("gone.git")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bound.port}") as http:
            assert (await controller.cycle()).result is CycleResult.SUCCESS
            repo.origin.rename(gone)  # the remote is unreachable from now on
            for failures in (1, 2):
                report = await controller.cycle()
                assert report.result is CycleResult.PARTIAL
                assert report.pull is not None
                assert not report.pull.ok
                assert "git pull failed" in report.summary()
                assert (await http.get("/readyz")).status_code == 200, failures
            await controller.cycle()
            ready = await http.get("/readyz")
            assert ready.status_code == 503
            assert "3 cycles in a row" in ready.text
            assert "does not appear to be a git repository" in ready.text
            status = (await http.get("/status")).json()
            assert status["ready"] is False
            assert status["pullFailures"] == 3
            assert status["lastCycle"]["result"] == "partial"
            assert status["lastCycle"]["pull"]["ok"] is False
            m = families((await http.get("/metrics")).text)
            cycles = "cxrecon_reconcile_cycles"
            assert value(m, cycles, cycles + "_total", result="partial") == 3
            assert value(m, cycles, cycles + "_total", result="success") == 1
            pulls = "cxrecon_git_pulls"
            assert value(m, pulls, pulls + "_total", result="failure") == 3

            gone.rename(repo.origin)  # back again
            recovered = await controller.cycle()
            assert recovered.result is CycleResult.SUCCESS
            assert (await http.get("/readyz")).status_code == 200
            assert (await http.get("/status")).json()["pullFailures"] == 0
    finally:
        await server.close()


async def test_pull_failures_do_not_count_without_pull(
    make_controller: ControllerFactory, repo: ConnectorsRepo
) -> None:
    controller = make_controller(dry_run=True, pull=False, max_pull_failures=1)
    repo.origin.rename(repo.origin.with_name("gone.git"))

    report = await controller.cycle()

    assert report.pull is None
    assert report.result is CycleResult.SUCCESS
    assert controller.readiness()[0] is True


async def test_closing_the_server_ends_a_page_whose_cancellation_was_swallowed(
    make_controller: ControllerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Python 3.11's asyncio.wait_for returns the inner result when it finishes just as the
    # task is cancelled: the cancellation is lost. The status page then went back to waiting
    # for a cycle that never came, and close() (SIGTERM, a test's teardown) hung forever.
    import reconciler.controller.page.app as page_app
    from reconciler.controller.page import repolink

    entered = asyncio.Event()
    real_repo_info = repolink.repo_info

    async def repo_info_losing_one_cancellation(checkout: object) -> object:
        entered.set()
        # What wait_for does when the git call completes at that moment: carry on.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        return await real_repo_info(checkout)  # type: ignore[arg-type]

    controller = make_controller()
    server = HealthServer(ListenAddress("127.0.0.1", 0), controller)
    await server.start()
    try:
        monkeypatch.setattr(page_app, "repo_info", repo_info_losing_one_cancellation)
        await controller.cycle()  # the page follows it and reads the repository again
        await asyncio.wait_for(entered.wait(), 10)
    finally:
        closing = asyncio.create_task(server.close())
        done, _ = await asyncio.wait({closing}, timeout=10)
        while not closing.done():  # do not leave it behind
            closing.cancel()
            await asyncio.wait({closing}, timeout=1)
    assert done, "HealthServer.close() did not end the status page"
