"""The /_emulator admin routes: stats, reset, out-of-band edits, seeding, clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

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


TEN_YEARS = 10 * 365 * 24 * 3600


def post_clock(emulator: RunningEmulator, raw: bytes) -> httpx.Response:
    return httpx.post(
        emulator.root_url + "/_emulator/clock",
        content=raw,
        headers={"Content-Type": "application/json"},
    )


@pytest.mark.parametrize(
    "advance", ["1e12", "1e308", "1e400", "-1", str(10**400), str(TEN_YEARS + 1)]
)
def test_clock_advance_out_of_range_is_422_and_changes_nothing(
    emulator: RunningEmulator, api: ApiClient, body: Body, advance: str
) -> None:
    for _ in range(2):
        response = post_clock(emulator, b'{"advanceSeconds": ' + advance.encode() + b"}")
        assert response.status_code == 422, response.text
        problem = response.json()  # valid JSON: no Infinity
        assert problem["error"] == "clock_out_of_range"
        assert problem["details"][0]["path"] == "/advanceSeconds"
    assert api.post("/crm/connectors", json=body()).status_code == 201
    assert post_clock(emulator, b'{"advanceSeconds": 0}').json() == {"offsetSeconds": 0.0}


def test_clock_offset_stays_bounded_over_many_advances(emulator: RunningEmulator) -> None:
    answers = [
        post_clock(emulator, f'{{"advanceSeconds": {TEN_YEARS}}}'.encode()) for _ in range(11)
    ]
    assert [a.status_code for a in answers] == [200] * 10 + [422]
    assert answers[-1].json()["error"] == "clock_out_of_range"
    assert answers[9].json() == {"offsetSeconds": 10.0 * TEN_YEARS}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"tokenTtl": 1e400}',
        b'{"rateLimit": 1e400}',
        b'{"syncStepSeconds": 1e400}',
        b'{"burst": 1.5}',
        b'{"burst": 1' + b"0" * 400 + b"}",
    ],
)
def test_fault_settings_refuse_infinite_and_fractional_values(
    emulator: RunningEmulator, raw: bytes
) -> None:
    response = httpx.post(
        emulator.root_url + "/_emulator/faults",
        content=raw,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_settings"
    settings = httpx.get(emulator.root_url + "/_emulator/faults").json()  # still valid JSON
    assert settings["tokenTtl"] == 3600
    assert settings["burst"] == 20


@pytest.mark.parametrize("path", ["reset", "faults", "clock"])
def test_admin_posts_need_a_json_object_body(emulator: RunningEmulator, path: str) -> None:
    response = httpx.post(
        f"{emulator.root_url}/_emulator/{path}", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "{}" in response.json()["message"]


def test_a_scripted_fault_with_a_null_path_is_400(emulator: RunningEmulator) -> None:
    response = httpx.post(
        emulator.root_url + "/_emulator/faults", json={"next": [{"kind": "500", "path": None}]}
    )
    assert response.status_code == 400
    assert response.json()["details"] == [{"path": "/next/0/path", "message": "not a string"}]
