"""CRM data-sync jobs: 202 + polling through PENDING → RUNNING → COMPLETED | FAILED."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from reconciler.emulator.config import EmulatorConfig
from reconciler.testing import ApiClient, RunningEmulator, api_client

Body = Callable[..., dict[str, Any]]
SLOW_STEPS = EmulatorConfig(sync_step_s=3600)  # only polls move a job


@pytest.fixture
def slow_api(emulator_factory: Callable[..., RunningEmulator]) -> Iterator[ApiClient]:
    with api_client(emulator_factory(SLOW_STEPS)) as api:
        yield api


def start(api: ApiClient, body: dict[str, Any], sync_type: str = "FULL") -> httpx.Response:
    created = api.create(body)
    cid = api.activate(created).json()["id"]
    return api.post(f"/crm/connectors/{cid}/sync", json={"syncType": sync_type})


def poll(api: ApiClient, accepted: httpx.Response) -> dict[str, Any]:
    response = api.get(accepted.headers["Location"])
    assert response.status_code == 200
    job: dict[str, Any] = response.json()
    return job


def test_sync_is_accepted_with_a_location_to_poll(slow_api: ApiClient, body: Body) -> None:
    accepted = start(slow_api, body())
    assert accepted.status_code == 202
    job = accepted.json()
    assert job["syncId"].startswith("sync_")
    assert job["status"] == "PENDING"
    assert accepted.headers["Location"].endswith(f"/sync/{job['syncId']}")


def test_each_poll_moves_the_job_one_step_to_completed(slow_api: ApiClient, body: Body) -> None:
    accepted = start(slow_api, body())
    seen = [poll(slow_api, accepted) for _ in range(4)]
    assert [j["status"] for j in seen] == ["PENDING", "RUNNING", "COMPLETED", "COMPLETED"]
    assert seen[0]["recordsProcessed"] == 0
    assert 0 < seen[1]["recordsProcessed"] < seen[2]["recordsProcessed"] == 500
    assert seen[2]["errorDetails"] is None


def test_failed_outcome_label_makes_the_sync_fail(slow_api: ApiClient, body: Body) -> None:
    labels = {"emulator/sync-outcome": "FAILED", "emulator/sync-error": "CRM said no"}
    accepted = start(slow_api, body(labels=labels))
    final = [poll(slow_api, accepted) for _ in range(3)][-1]
    assert final["status"] == "FAILED"
    assert final["errorDetails"] == "CRM said no"


def test_records_label_sets_records_processed(slow_api: ApiClient, body: Body) -> None:
    accepted = start(slow_api, body(labels={"emulator/sync-records": "1234"}), "INCREMENTAL")
    final = [poll(slow_api, accepted) for _ in range(3)][-1]
    assert final["recordsProcessed"] == 1234
    assert final["syncType"] == "INCREMENTAL"


def test_time_alone_completes_a_job(emulator: RunningEmulator, body: Body) -> None:
    with api_client(emulator) as api:
        accepted = start(api, body())
        emulator.control.advance_clock(1)
        assert poll(api, accepted)["status"] == "COMPLETED"


@pytest.mark.parametrize("state", ["DRAFT", "INACTIVE"])
def test_sync_of_a_connector_that_is_not_active_is_409(
    api: ApiClient, body: Body, state: str
) -> None:
    created = api.create(body())
    if state == "INACTIVE":
        created = api.change(created, {"lifecycleStatus": "INACTIVE"})
    response = api.post(f"/crm/connectors/{created.json()['id']}/sync", json={"syncType": "FULL"})
    assert response.status_code == 409
    assert response.json()["error"] == "connector_not_active"


@pytest.mark.parametrize("payload", [{}, {"syncType": "PARTIAL"}, {"syncType": "FULL", "x": 1}])
def test_bad_sync_requests_are_400(api: ApiClient, body: Body, payload: dict[str, Any]) -> None:
    cid = api.activate(api.create(body())).json()["id"]
    assert api.post(f"/crm/connectors/{cid}/sync", json=payload).status_code == 400


def test_unknown_connector_or_job_is_404(api: ApiClient, body: Body) -> None:
    cid = api.activate(api.create(body())).json()["id"]
    assert api.post("/crm/connectors/conn_x/sync", json={"syncType": "FULL"}).status_code == 404
    assert api.get(f"/crm/connectors/{cid}/sync/sync_unknown").status_code == 404


def test_sync_start_is_idempotent_with_a_key(api: ApiClient, body: Body) -> None:
    cid = api.activate(api.create(body())).json()["id"]
    headers = {"Idempotency-Key": "sync-1"}
    first = api.post(f"/crm/connectors/{cid}/sync", json={"syncType": "FULL"}, headers=headers)
    again = api.post(f"/crm/connectors/{cid}/sync", json={"syncType": "FULL"}, headers=headers)
    assert first.json()["syncId"] == again.json()["syncId"]
