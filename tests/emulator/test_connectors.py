"""Connector reads and writes over a real port: shapes, ETags, validation, lifecycle."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from reconciler.emulator.config import EmulatorConfig
from reconciler.testing import ApiClient, RunningEmulator, api_client

Body = Callable[..., dict[str, Any]]
CANARY = "canary-5f1e-secret"  # the clientSecret in the `body` fixture's connectors


# --- create -----------------------------------------------------------------


def test_create_answers_201_with_etag_location_and_server_fields(
    api: ApiClient, body: Body
) -> None:
    response = api.create(body())
    created = response.json()
    assert created["id"].startswith("conn_")
    assert response.headers["ETag"] == created["etag"]
    assert response.headers["ETag"].startswith('"')
    assert response.headers["ETag"].endswith('"')
    assert response.headers["Location"].endswith(f"/api/v2/crm/connectors/{created['id']}")
    assert created["createdTime"] == created["lastModifiedTime"]
    assert created["createdTime"].endswith("Z")
    assert created["lifecycleStatus"] == "DRAFT"
    assert created["syncSettings"] == {
        "batchSize": 500,
        "retryAttempts": 3,
        "syncIntervalMinutes": 15,
    }


def test_secret_credentials_are_write_only_and_never_stored_in_clear(
    emulator: RunningEmulator, api: ApiClient, body: Body
) -> None:
    created = api.create(body()).json()
    fetched = api.get(f"/crm/connectors/{created['id']}")
    listed = api.get("/crm/connectors")
    for shown in (created, fetched.json(), listed.json()["items"][0]):
        # clientSecret is writeOnly in the connector schema; clientId is not, so it reads back.
        assert shown["authentication"]["credentials"] == {
            "clientId": "sf-client",
            "clientSecret": "********",
        }
    for text in (fetched.text, listed.text):
        assert CANARY not in text
    stored = b"".join(p.read_bytes() for p in emulator.db_path.parent.glob("*.sqlite*"))
    assert CANARY.encode() not in stored


def test_create_other_than_draft_is_400(api: ApiClient, body: Body) -> None:
    response = api.post("/crm/connectors", json=body(lifecycleStatus="ACTIVE"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_lifecycle"


def test_create_with_a_taken_name_is_409(api: ApiClient, body: Body) -> None:
    api.create(body())
    response = api.post("/crm/connectors", json=body())
    assert response.status_code == 409
    assert response.json()["error"] == "name_conflict"


@pytest.mark.parametrize("field", ["id", "etag", "createdTime", "lastModifiedTime"])
def test_server_managed_fields_cannot_be_written_422(
    api: ApiClient, body: Body, field: str
) -> None:
    response = api.post("/crm/connectors", json=body(**{field: "x"}))
    assert response.status_code == 422
    assert response.json()["error"] == "read_only_field"
    assert response.json()["details"] == [{"path": f"/{field}", "message": "is read-only"}]


@pytest.mark.parametrize(
    ("override", "path"),
    [
        ({"connectorType": "ORACLE"}, "/connectorType"),
        ({"endpointUrl": "ftp://crm.example.com"}, "/endpointUrl"),
        ({"name": 42}, "/name"),
        ({"version": "1.0"}, "/version"),
        (
            {"mappings": [{"cxoneField": "a", "crmField": "b", "direction": "SIDEWAYS"}]},
            "/mappings/0/direction",
        ),
        (
            {
                "mappings": [
                    {"cxoneField": "a", "crmField": "b", "direction": "INBOUND"},
                    {"cxoneField": "a", "crmField": "c", "direction": "INBOUND"},
                ]
            },
            "/mappings/1/cxoneField",
        ),
        ({"syncSettings": {"batchSize": True}}, "/syncSettings/batchSize"),
        ({"syncSettings": {"batchSize": 0}}, "/syncSettings/batchSize"),
        ({"labels": {"bad key": "x"}}, "/labels/bad key"),
        ({"colour": "blue"}, "/colour"),
        (
            {"authentication": {"type": "OAUTH2", "credentials": {"secret": "********"}}},
            "/authentication/credentials/secret",
        ),
    ],
)
def test_invalid_bodies_are_400_naming_the_field(
    api: ApiClient, body: Body, override: dict[str, Any], path: str
) -> None:
    response = api.post("/crm/connectors", json=body(**override))
    assert response.status_code == 400
    problem = response.json()
    assert problem["error"] == "validation_failed"
    assert path in [d["path"] for d in problem["details"]]
    assert set(problem) == {"error", "message", "details"}


def test_missing_required_fields_are_listed(api: ApiClient) -> None:
    response = api.post("/crm/connectors", json={"name": "x"})
    assert response.status_code == 400
    paths = {d["path"] for d in response.json()["details"]}
    assert {"/connectorType", "/endpointUrl", "/authentication"} <= paths


@pytest.mark.parametrize(
    "raw", [b"{", b"[]", b"", b'{"name": NaN}', b'{"a": 1, "a": 2}', b"\xff\xfe"]
)
def test_malformed_json_is_400_never_500(api: ApiClient, raw: bytes) -> None:
    response = api.post(
        "/crm/connectors", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"


def test_oversized_body_is_413(api: ApiClient, body: Body) -> None:
    response = api.post("/crm/connectors", json=body(description="x" * 300_000))
    assert response.status_code == 413


def test_wrong_content_type_is_415(api: ApiClient) -> None:
    response = api.post("/crm/connectors", content=b"name=x")
    assert response.status_code == 415


# --- read -------------------------------------------------------------------


def test_get_has_a_strong_etag_and_honours_if_none_match(api: ApiClient, body: Body) -> None:
    created = api.create(body())
    url = f"/crm/connectors/{created.json()['id']}"
    fetched = api.get(url)
    assert fetched.status_code == 200
    assert fetched.headers["ETag"] == created.headers["ETag"] == fetched.json()["etag"]
    assert api.get(url, headers={"If-None-Match": fetched.headers["ETag"]}).status_code == 304


def test_unknown_connector_is_404_json(api: ApiClient) -> None:
    response = api.get("/crm/connectors/conn_doesnotexist")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_unsupported_method_is_405_json(api: ApiClient) -> None:
    response = api.delete("/crm/connectors")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_list_pages_in_creation_order_with_total_and_next(api: ApiClient, body: Body) -> None:
    names = [f"c{i:02d}" for i in range(5)]
    for name in names:
        api.create(body(name=name))
    first = api.get("/crm/connectors", params={"top": 2}).json()
    assert [c["name"] for c in first["items"]] == names[:2]
    assert first["totalRecords"] == 5
    seen = [c["name"] for c in first["items"]]
    next_url = first["_links"]["next"]
    while next_url:
        page = api.get(next_url).json()
        seen += [c["name"] for c in page["items"]]
        next_url = page["_links"]["next"]
    assert seen == names


def test_list_name_filter_finds_exactly_one(api: ApiClient, body: Body) -> None:
    api.create(body(name="alpha"))
    api.create(body(name="beta"))
    found = api.get("/crm/connectors", params={"name": "beta"}).json()
    assert [c["name"] for c in found["items"]] == ["beta"]
    assert found["totalRecords"] == 1


@pytest.mark.parametrize("params", [{"top": "101"}, {"top": "0"}, {"skip": "-1"}, {"top": "x"}])
def test_bad_paging_parameters_are_400(api: ApiClient, params: dict[str, str]) -> None:
    response = api.get("/crm/connectors", params=params)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_parameter"


# --- patch ------------------------------------------------------------------


def test_patch_without_if_match_is_428(api: ApiClient, body: Body) -> None:
    cid = api.create(body()).json()["id"]
    response = api.patch(f"/crm/connectors/{cid}", json={"description": "new"})
    assert response.status_code == 428
    assert response.json()["error"] == "precondition_required"


def test_patch_with_a_stale_etag_is_412(api: ApiClient, body: Body) -> None:
    created = api.create(body())
    api.change(created, {"description": "first"})
    response = api.patch(
        f"/crm/connectors/{created.json()['id']}",
        json={"description": "second"},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert response.status_code == 412
    assert response.json()["error"] == "precondition_failed"


def test_conflict_status_409_answers_stale_etags_with_409(
    emulator_factory: Callable[..., RunningEmulator], body: Body
) -> None:
    running = emulator_factory(EmulatorConfig(conflict_status=409))
    with api_client(running) as api:
        created = api.create(body())
        api.change(created, {"description": "first"})
        response = api.patch(
            f"/crm/connectors/{created.json()['id']}",
            json={"description": "second"},
            headers={"If-Match": created.headers["ETag"]},
        )
    assert response.status_code == 409


def test_patch_changes_etag_and_last_modified_time(api: ApiClient, body: Body) -> None:
    created = api.create(body())
    changed = api.change(created, {"description": "changed"})
    assert changed.headers["ETag"] != created.headers["ETag"]
    assert changed.json()["lastModifiedTime"] > created.json()["lastModifiedTime"]
    assert changed.json()["createdTime"] == created.json()["createdTime"]


def test_patch_that_changes_nothing_keeps_the_etag(api: ApiClient, body: Body) -> None:
    created = api.create(body())
    same = api.change(created, {"description": "Contact sync"})
    assert same.headers["ETag"] == created.headers["ETag"]


def test_patch_is_a_json_merge_patch(api: ApiClient, body: Body) -> None:
    created = api.create(body(labels={"a": "1", "b": "2"}))
    patched = api.patch(
        f"/crm/connectors/{created.json()['id']}",
        content=b'{"labels": {"a": null, "c": "3"}, "description": null}',
        headers={
            "If-Match": created.headers["ETag"],
            "Content-Type": "application/merge-patch+json",
        },
    )
    assert patched.status_code == 200
    assert patched.json()["labels"] == {"b": "2", "c": "3"}
    assert "description" not in patched.json()
    assert patched.json()["mappings"] == created.json()["mappings"]


def test_patch_credentials_changes_the_etag_but_never_shows_them(
    api: ApiClient, body: Body
) -> None:
    created = api.create(body())
    patched = api.change(created, {"authentication": {"credentials": {"clientSecret": "n3w"}}})
    assert patched.headers["ETag"] != created.headers["ETag"]
    assert patched.json()["authentication"]["credentials"]["clientSecret"] == "********"
    again = api.change(patched, {"authentication": {"credentials": {"clientSecret": "n3w"}}})
    assert again.headers["ETag"] == patched.headers["ETag"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (["ACTIVE"], 200),
        (["INACTIVE"], 200),
        (["ACTIVE", "INACTIVE", "ACTIVE"], 200),
        (["ACTIVE", "DRAFT"], 422),
        (["INACTIVE", "DRAFT"], 422),
        (["ERROR"], 422),
    ],
)
def test_lifecycle_transitions_follow_the_design(
    api: ApiClient, body: Body, path: list[str], expected: int
) -> None:
    current = api.create(body())
    for i, state in enumerate(path):
        response = api.patch(
            f"/crm/connectors/{current.json()['id']}",
            json={"lifecycleStatus": state},
            headers={"If-Match": current.headers["ETag"]},
        )
        if i < len(path) - 1:
            assert response.status_code == 200
            current = response
    assert response.status_code == expected
    if expected == 422:
        assert response.json()["error"] == "invalid_transition"


def test_connector_in_error_can_be_retried_to_active(
    emulator: RunningEmulator, api: ApiClient, body: Body
) -> None:
    created = api.create(body())
    emulator.control.edit(created.json()["id"], {"lifecycleStatus": "ERROR"})
    fresh = api.get(f"/crm/connectors/{created.json()['id']}")
    assert fresh.json()["lifecycleStatus"] == "ERROR"
    assert api.change(fresh, {"lifecycleStatus": "ACTIVE"}).json()["lifecycleStatus"] == "ACTIVE"


def test_connector_type_is_immutable_422(api: ApiClient, body: Body) -> None:
    created = api.create(body())
    response = api.patch(
        f"/crm/connectors/{created.json()['id']}",
        json={"connectorType": "DYNAMICS"},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert response.status_code == 422
    assert response.json()["error"] == "immutable_field"


@pytest.mark.parametrize("field", ["id", "etag", "createdTime", "lastModifiedTime"])
def test_patch_of_server_managed_fields_is_422(api: ApiClient, body: Body, field: str) -> None:
    created = api.create(body())
    response = api.patch(
        f"/crm/connectors/{created.json()['id']}",
        json={field: "x"},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert response.status_code == 422


def test_rename_onto_a_taken_name_is_409(api: ApiClient, body: Body) -> None:
    api.create(body(name="taken"))
    created = api.create(body(name="mine"))
    response = api.patch(
        f"/crm/connectors/{created.json()['id']}",
        json={"name": "taken"},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert response.status_code == 409


def test_patch_removing_a_required_field_is_400(api: ApiClient, body: Body) -> None:
    created = api.create(body())
    response = api.patch(
        f"/crm/connectors/{created.json()['id']}",
        json={"endpointUrl": None},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert response.status_code == 400
    assert response.json()["details"][0]["path"] == "/endpointUrl"


def test_patch_of_an_unknown_connector_is_404(api: ApiClient) -> None:
    response = api.patch(
        "/crm/connectors/conn_missing", json={"description": "x"}, headers={"If-Match": "*"}
    )
    assert response.status_code == 404


def test_error_bodies_are_json_with_error_message_details(api: ApiClient) -> None:
    response = api.get("/no/such/route")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"error", "message", "details"}


def test_spec_round_trips_through_the_model(api: ApiClient, body: Body) -> None:
    from reconciler.model import ConnectorSpec

    spec = ConnectorSpec.from_api(body())
    created = api.post("/crm/connectors", json=spec.to_api())
    assert created.status_code == 201
    back = ConnectorSpec.from_api(created.json())
    assert back.name == spec.name
    assert back.mappings == spec.mappings
    assert back.labels == spec.labels


def test_invalid_json_keeps_the_connection_usable(emulator: RunningEmulator) -> None:
    with api_client(emulator) as api:
        bad = api.post(
            "/crm/connectors", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert bad.status_code == 400
        assert api.get("/crm/connectors").status_code == 200


def test_openapi_document_is_served(emulator: RunningEmulator) -> None:
    response = httpx.get(emulator.base_url + "/openapi.yaml")
    assert response.status_code == 200
    assert response.text.startswith("openapi: 3.1.0")
