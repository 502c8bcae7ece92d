"""Credential keys are checked against the authentication type, and PATCH merges
`authentication` as a JSON merge patch (RFC 7396): a credential set to null is removed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from reconciler.emulator.validation import CREDENTIAL_KEYS
from reconciler.load.catalog import AUTH_CREDENTIALS
from reconciler.testing import ApiClient, RunningEmulator

Body = Callable[..., dict[str, Any]]


def test_the_key_table_is_the_twin_of_the_catalogs() -> None:
    assert {
        auth_type: (keys.required, keys.optional) for auth_type, keys in AUTH_CREDENTIALS.items()
    } == dict(CREDENTIAL_KEYS)


def auth(auth_type: str, **credentials: str | None) -> dict[str, Any]:
    return {"authentication": {"type": auth_type, "credentials": credentials}}


def shown_credentials(api: ApiClient, cid: str) -> dict[str, Any]:
    credentials: dict[str, Any] = api.get(f"/crm/connectors/{cid}").json()["authentication"]
    return credentials


@pytest.mark.parametrize(
    ("auth_type", "key"),
    [("BASIC", "apiKey"), ("API_KEY", "password"), ("OAUTH2", "username")],
)
def test_create_with_a_key_the_type_does_not_use_is_400(
    api: ApiClient, body: Body, auth_type: str, key: str
) -> None:
    response = api.post("/crm/connectors", json=body(**auth(auth_type, **{key: "v"})))
    assert response.status_code == 400
    problem = response.json()
    assert problem["error"] == "validation_failed"
    assert problem["details"][0]["path"] == f"/authentication/credentials/{key}"
    assert auth_type in problem["details"][0]["message"]


def test_a_ui_style_type_change_that_leaves_old_keys_is_422(
    emulator: RunningEmulator, api: ApiClient, body: Body
) -> None:
    cid = api.create(body(**auth("BASIC", username="u", password="p"))).json()["id"]
    response = httpx.patch(
        f"{emulator.root_url}/_emulator/connectors/{cid}",
        json={"authentication": {"type": "API_KEY"}},
    )
    assert response.status_code == 422
    assert response.json()["error"] == "credentials_mismatch"
    paths = {d["path"] for d in response.json()["details"]}
    assert paths == {"/authentication/credentials/username", "/authentication/credentials/password"}
    assert "null" in response.json()["message"]
    assert shown_credentials(api, cid) == {
        "type": "BASIC",
        "credentials": {"username": "u", "password": "********"},
    }


def test_a_type_change_that_nulls_the_old_keys_is_accepted(
    emulator: RunningEmulator, api: ApiClient, body: Body
) -> None:
    created = api.create(body(**auth("BASIC", username="u", password="p")))
    patch = auth("API_KEY", username=None, password=None, apiKey="k")
    api.change(created, patch)
    assert shown_credentials(api, created.json()["id"]) == {
        "type": "API_KEY",
        "credentials": {"apiKey": "********"},
    }
    edited = emulator.control.edit(created.json()["id"], auth("BASIC", apiKey=None))
    assert edited["authentication"] == {"type": "BASIC", "credentials": {}}


def test_a_credential_set_to_null_is_removed_and_the_rest_kept(api: ApiClient, body: Body) -> None:
    created = api.create(body())  # OAUTH2 with clientId and clientSecret
    before = api.get(f"/crm/connectors/{created.json()['id']}")
    changed = api.change(before, {"authentication": {"credentials": {"clientSecret": None}}})
    assert changed.json()["authentication"] == {
        "type": "OAUTH2",
        "credentials": {"clientId": "sf-client"},
    }
    assert changed.headers["ETag"] != before.headers["ETag"]


def test_an_api_patch_with_a_key_of_another_type_is_422(api: ApiClient, body: Body) -> None:
    created = api.create(body())  # OAUTH2
    response = api.patch(
        f"/crm/connectors/{created.json()['id']}",
        json={"authentication": {"credentials": {"apiKey": "k"}}},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert response.status_code == 422
    assert response.json()["details"][0]["path"] == "/authentication/credentials/apiKey"


def test_an_unknown_credential_key_is_400(api: ApiClient, body: Body) -> None:
    response = api.post("/crm/connectors", json=body(**auth("API_KEY", apiKey="k", colour="x")))
    assert response.status_code == 400
    assert response.json()["details"][0]["path"] == "/authentication/credentials/colour"


def test_nulling_a_credential_that_is_not_set_changes_nothing(api: ApiClient, body: Body) -> None:
    created = api.create(body())
    same = api.change(created, {"authentication": {"credentials": {"scope": None}}})
    assert same.headers["ETag"] == created.headers["ETag"]


def test_credentials_null_removes_them_all(api: ApiClient, body: Body) -> None:
    created = api.create(body())
    changed = api.change(created, {"authentication": {"credentials": None}})
    assert changed.json()["authentication"] == {"type": "OAUTH2", "credentials": {}}
