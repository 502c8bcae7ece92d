"""The /_emulator admin routes: stats, reset, out-of-band edits, seeding, clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from reconciler.testing import ApiClient, RunningEmulator

Body = Callable[..., dict[str, Any]]


def test_out_of_band_edit_bumps_the_etag_so_a_stale_patch_is_412(
    emulator: RunningEmulator, api: ApiClient, body: Body
) -> None:
    created = api.create(body())
    edited = emulator.control.edit(created.json()["id"], {"description": "edited in the UI"})
    assert edited["etag"] != created.headers["ETag"]
    assert edited["lastModifiedTime"] >= created.json()["lastModifiedTime"]
    response = api.patch(
        f"/crm/connectors/{created.json()['id']}",
        json={"description": "from git"},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert response.status_code == 412


def test_out_of_band_edit_is_still_validated(
    emulator: RunningEmulator, api: ApiClient, body: Body
) -> None:
    cid = api.create(body()).json()["id"]
    response = httpx.patch(
        f"{emulator.root_url}/_emulator/connectors/{cid}", json={"endpointUrl": "nope"}
    )
    assert response.status_code == 400


def test_seeded_connector_can_start_in_any_state(
    emulator: RunningEmulator, api: ApiClient, body: Body
) -> None:
    seeded = emulator.control.seed(body(lifecycleStatus="ACTIVE"))
    fetched = api.get(f"/crm/connectors/{seeded['id']}")
    assert fetched.json()["lifecycleStatus"] == "ACTIVE"


def test_out_of_band_delete(emulator: RunningEmulator, api: ApiClient, body: Body) -> None:
    cid = api.create(body()).json()["id"]
    emulator.control.delete(cid)
    assert api.get(f"/crm/connectors/{cid}").status_code == 404
    assert httpx.delete(f"{emulator.root_url}/_emulator/connectors/{cid}").status_code == 404


def test_stats_count_requests_by_route_and_status(
    emulator: RunningEmulator, api: ApiClient, body: Body
) -> None:
    cid = api.create(body()).json()["id"]
    api.get(f"/crm/connectors/{cid}")
    api.get("/crm/connectors/conn_missing")
    requests = emulator.control.stats()["requests"]
    assert requests["GET /api/v2/crm/connectors/{id}"] == {"200": 1, "404": 1}
    assert requests["POST /api/v2/crm/connectors"] == {"201": 1}
    assert requests["POST /api/v2/oauth/token"] == {"200": 1}


def test_reset_forgets_state_but_keeps_tokens(
    emulator: RunningEmulator, api: ApiClient, body: Body
) -> None:
    api.create(body())
    emulator.control.faults(faultRate=0.5)
    emulator.control.reset()
    assert api.get("/crm/connectors").json()["totalRecords"] == 0
    assert emulator.control.faults()["faultRate"] == 0.0


def test_reset_with_tokens_revokes_them(emulator: RunningEmulator, api: ApiClient) -> None:
    emulator.control.reset(tokens=True)
    assert api.get("/crm/connectors").status_code == 401


def test_health(emulator: RunningEmulator) -> None:
    assert httpx.get(emulator.root_url + "/_emulator/health").json() == {"status": "ok"}


def test_stats_fold_unknown_paths_into_one_key(emulator: RunningEmulator, api: ApiClient) -> None:
    for i in range(3):
        api.get(f"/random/{i}")
    requests = emulator.control.stats()["requests"]
    assert requests["GET (unmatched)"] == {"404": 3}
    assert not any("random" in route for route in requests)
