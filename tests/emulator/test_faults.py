"""Injected faults: statuses with Retry-After, resets, slow answers, seeded draws, latency,
rate limiting — all over a real port, as a client meets them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from reconciler.config.settings import DEFAULT_SCOPES
from reconciler.emulator.config import EmulatorConfig, OAuthClient
from reconciler.testing import ApiClient, RunningEmulator, api_client

Body = Callable[..., dict[str, Any]]
Factory = Callable[..., RunningEmulator]


@pytest.mark.parametrize(("kind", "retry_after"), [("500", None), ("502", None), ("503", "1")])
def test_scripted_server_errors_carry_retry_after_where_documented(
    emulator: RunningEmulator, api: ApiClient, kind: str, retry_after: str | None
) -> None:
    emulator.control.faults(next=[{"kind": kind, "path": "/api/v2/crm/connectors"}])
    response = api.get("/crm/connectors")
    assert response.status_code == int(kind)
    assert response.headers.get("Retry-After") == retry_after
    assert set(response.json()) == {"error", "message", "details"}
    assert api.get("/crm/connectors").status_code == 200


def test_a_failed_write_fault_commits_nothing(
    emulator: RunningEmulator, api: ApiClient, body: Body
) -> None:
    emulator.control.faults(next=[{"kind": "503", "method": "POST"}])
    assert api.post("/crm/connectors", json=body()).status_code == 503
    assert api.get("/crm/connectors").json()["totalRecords"] == 0


def test_reset_kills_the_connection_without_an_answer(
    emulator: RunningEmulator, api: ApiClient
) -> None:
    emulator.control.faults(next=[{"kind": "reset"}])
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        api.get("/crm/connectors")
    assert api.get("/crm/connectors").status_code == 200
    assert emulator.control.stats()["faults"] == {"reset": 1}


def test_slow_answer_outlasts_the_client_timeout_but_the_write_lands(
    emulator: RunningEmulator, body: Body
) -> None:
    with api_client(emulator) as api:
        emulator.control.faults(
            slowMs=1500, next=[{"kind": "slow", "path": "/api/v2/crm/connectors"}]
        )
        with pytest.raises(httpx.ReadTimeout):
            api.post("/crm/connectors", json=body(), timeout=0.3)
        assert api.get("/crm/connectors").json()["totalRecords"] == 1


def statuses(running: RunningEmulator, count: int) -> list[int]:
    with api_client(running) as api:
        return [api.get("/crm/connectors").status_code for _ in range(count)]


def test_seeded_faults_are_reproducible(emulator_factory: Factory) -> None:
    config = EmulatorConfig(fault_rate=0.3, fault_kinds=("500", "502", "503"), seed=7)
    first = statuses(emulator_factory(config), 40)
    second = statuses(emulator_factory(config), 40)
    other = statuses(
        emulator_factory(EmulatorConfig(fault_rate=0.3, seed=8, fault_kinds=("500", "502", "503"))),
        40,
    )
    assert first == second
    assert first != other
    assert 0 < sum(s != 200 for s in first) < 40


def test_429_faults_come_in_bursts(emulator: RunningEmulator, api: ApiClient) -> None:
    emulator.control.faults(faultRate=1.0, faultKinds=["429"], burst429Length=3)
    first = api.get("/crm/connectors")
    emulator.control.faults(faultRate=0.0)
    rest = [api.get("/crm/connectors").status_code for _ in range(3)]
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "1"
    assert rest == [429, 429, 200]


def test_latency_is_added_without_serializing_requests(emulator_factory: Factory) -> None:
    running = emulator_factory(EmulatorConfig(latency_ms=400))
    headers = running.control.auth_headers()
    clients = 8
    start = threading.Barrier(clients)

    def timed(_: int) -> float:
        start.wait()
        began = time.perf_counter()
        response = httpx.get(running.base_url + "/crm/connectors", headers=headers)
        assert response.status_code == 200
        return time.perf_counter() - began

    with ThreadPoolExecutor(clients) as pool:
        each = list(pool.map(timed, range(clients)))
    assert min(each) >= 0.4  # the latency is there (a lower bound holds under any load)
    # Concurrent, not one after another: requests were in the server at the same time (a
    # server that serialised them would never have more than one in flight).
    stats = running.control.stats()
    assert stats["peakInFlight"] >= 2
    assert stats["inFlight"] == 0


def test_sequential_requests_never_overlap(emulator: RunningEmulator) -> None:
    assert emulator.control.stats()["peakInFlight"] == 0
    with api_client(emulator) as api:  # a token request, then three reads, one at a time
        for _ in range(3):
            api.get("/crm/connectors")
    assert emulator.control.stats()["peakInFlight"] == 1
    emulator.control.reset()
    assert emulator.control.stats()["peakInFlight"] == 0


def test_rate_limit_answers_429_with_headers(emulator_factory: Factory) -> None:
    running = emulator_factory(EmulatorConfig(rate_limit=0.5, burst=3))
    with api_client(running) as api:
        answers = [api.get("/crm/connectors") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert all(a.headers["X-RateLimit-Limit"] == "3" for a in answers)
    assert int(answers[0].headers["X-RateLimit-Reset"]) >= 1
    limited = answers[-1]
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"] == "rate_limited"
    assert running.control.stats()["rateLimited"] == 1


def test_rate_limit_buckets_are_per_client(emulator_factory: Factory) -> None:
    scopes = frozenset(DEFAULT_SCOPES)
    clients = {"one": OAuthClient("s1", scopes), "two": OAuthClient("s2", scopes)}
    running = emulator_factory(EmulatorConfig(rate_limit=0.5, burst=1, clients=clients))
    got = []
    for client, secret in (("one", "s1"), ("two", "s2")):
        headers = {"Authorization": f"Bearer {running.control.token(client, secret)}"}
        with httpx.Client(base_url=running.base_url, headers=headers) as http:
            got.append([http.get("/crm/connectors").status_code for _ in range(2)])
    assert got == [[200, 429], [200, 429]]


def test_no_rate_limit_headers_when_limiting_is_off(api: ApiClient) -> None:
    assert "X-RateLimit-Limit" not in api.get("/crm/connectors").headers


def test_runtime_fault_settings_are_validated(emulator: RunningEmulator) -> None:
    for bad in ({"faultRate": 2}, {"faultKinds": ["boom"]}, {"colour": 1}, {"next": "x"}):
        response = httpx.post(emulator.root_url + "/_emulator/faults", json=bad)
        assert response.status_code == 400, bad
