"""Idempotency-Key on POST, including the hard case: the write commits and the connection
drops before the answer, so only a retry with the same key is safe."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from reconciler.emulator.faults import ScriptedFault
from reconciler.testing import ApiClient, InProcessEmulator, RunningEmulator

Body = Callable[..., dict[str, Any]]
DROP_CREATE = {"kind": "drop", "method": "POST", "path": "/api/v2/crm/connectors"}


def test_same_key_and_body_replays_the_first_answer(api: ApiClient, body: Body) -> None:
    first = api.post("/crm/connectors", json=body(), headers={"Idempotency-Key": "k-1"})
    again = api.post("/crm/connectors", json=body(), headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert api.get("/crm/connectors").json()["totalRecords"] == 1


def test_same_key_with_another_body_is_422(api: ApiClient, body: Body) -> None:
    api.post("/crm/connectors", json=body(), headers={"Idempotency-Key": "k-2"})
    response = api.post(
        "/crm/connectors", json=body(name="other"), headers={"Idempotency-Key": "k-2"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "idempotency_key_reused"


def test_a_failed_request_does_not_burn_its_key(api: ApiClient, body: Body) -> None:
    bad = api.post("/crm/connectors", json=body(version="x"), headers={"Idempotency-Key": "k-3"})
    assert bad.status_code == 400
    good = api.post("/crm/connectors", json=body(), headers={"Idempotency-Key": "k-3"})
    assert good.status_code == 201


def test_keys_are_per_client(emulator_factory: Callable[..., RunningEmulator], body: Body) -> None:
    from reconciler.config.settings import DEFAULT_SCOPES
    from reconciler.emulator.config import EmulatorConfig, OAuthClient

    scopes = frozenset(DEFAULT_SCOPES)
    running = emulator_factory(
        EmulatorConfig(clients={"one": OAuthClient("s1", scopes), "two": OAuthClient("s2", scopes)})
    )
    statuses = []
    for client, secret, name in (("one", "s1", "a"), ("two", "s2", "b")):
        token = running.control.token(client, secret)
        response = httpx.post(
            running.base_url + "/crm/connectors",
            json=body(name=name),
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "shared"},
        )
        statuses.append(response.status_code)
    assert statuses == [201, 201]


def test_invalid_idempotency_key_is_400(api: ApiClient, body: Body) -> None:
    response = api.post("/crm/connectors", json=body(), headers={"Idempotency-Key": "a b"})
    assert response.status_code == 400


def test_dropped_create_is_committed_and_a_retry_with_the_key_returns_it(
    emulator: RunningEmulator, api: ApiClient, body: Body
) -> None:
    emulator.control.faults(next=[DROP_CREATE])
    headers = {"Idempotency-Key": "create-salesforce-prod"}
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("/crm/connectors", json=body(), headers=headers)

    retried = api.post("/crm/connectors", json=body(), headers=headers)
    assert retried.status_code == 201
    assert retried.headers["Idempotent-Replayed"] == "true"
    listed = api.get("/crm/connectors").json()
    assert listed["totalRecords"] == 1
    assert listed["items"][0]["id"] == retried.json()["id"]
    assert emulator.control.stats()["faults"] == {"drop": 1}


def test_dropped_create_retried_without_a_key_meets_its_own_name(
    emulator: RunningEmulator, api: ApiClient, body: Body
) -> None:
    emulator.control.faults(next=[DROP_CREATE])
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("/crm/connectors", json=body())
    assert api.post("/crm/connectors", json=body()).status_code == 409
    found = api.get("/crm/connectors", params={"name": body()["name"]}).json()
    assert found["totalRecords"] == 1


def test_dropped_patch_is_committed(emulator: RunningEmulator, api: ApiClient, body: Body) -> None:
    created = api.create(body())
    emulator.control.faults(next=[{"kind": "drop", "method": "PATCH"}])
    with pytest.raises(httpx.RemoteProtocolError):
        api.change(created, {"description": "landed"})
    fetched = api.get(f"/crm/connectors/{created.json()['id']}")
    assert fetched.json()["description"] == "landed"


@pytest.mark.anyio
async def test_in_process_drop_raises_an_httpx_transport_error(
    emulator_app: InProcessEmulator, body: Body
) -> None:
    runtime = emulator_app.runtime
    token, _ = runtime.tokens.issue(
        "demo-client", frozenset(emulator_app.config.clients["demo-client"].scopes)
    )
    runtime.faults.script.append(ScriptedFault("drop", "POST"))
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k"}
    async with emulator_app.async_client() as http:
        with pytest.raises(httpx.TransportError):
            await http.post("/crm/connectors", json=body(), headers=headers)
        replay = await http.post("/crm/connectors", json=body(), headers=headers)
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
