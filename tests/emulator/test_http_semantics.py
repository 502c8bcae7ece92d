"""HTTP details of RFC 9110 the emulator honours: entity-tag syntax in If-Match, weak
comparison for If-None-Match, and a complete Allow header on 405."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from reconciler.testing import ApiClient, RunningEmulator

Body = Callable[..., dict[str, Any]]


# --- If-Match ---------------------------------------------------------------


@pytest.mark.parametrize("if_match", ["1.0.0", "abc", '"unterminated', "W/abc", '"a" "b"'])
def test_if_match_that_is_not_an_entity_tag_is_400_saying_what_to_send(
    api: ApiClient, body: Body, if_match: str
) -> None:
    created = api.create(body())
    cid = created.json()["id"]
    response = api.patch(
        f"/crm/connectors/{cid}", json={"description": "new"}, headers={"If-Match": if_match}
    )
    assert response.status_code == 400
    problem = response.json()
    assert problem["error"] == "invalid_if_match"
    assert "not an entity tag" in problem["message"]
    assert '"' in problem["message"]  # shows the quoted form to send
    assert "ETag" in problem["message"]
    assert problem["details"] == [{"path": "If-Match", "message": "is not an entity tag"}]
    assert api.get(f"/crm/connectors/{cid}").headers["ETag"] == created.headers["ETag"]


def test_if_match_with_the_etag_unquoted_is_400(api: ApiClient, body: Body) -> None:
    created = api.create(body())
    bare = created.headers["ETag"].strip('"')
    response = api.patch(
        f"/crm/connectors/{created.json()['id']}",
        json={"description": "new"},
        headers={"If-Match": bare},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_if_match"


def test_if_match_compares_strongly_so_a_weak_tag_is_412(api: ApiClient, body: Body) -> None:
    created = api.create(body())
    response = api.patch(
        f"/crm/connectors/{created.json()['id']}",
        json={"description": "new"},
        headers={"If-Match": "W/" + created.headers["ETag"]},
    )
    assert response.status_code == 412
    assert "weak" in response.json()["message"]


@pytest.mark.parametrize("template", ['"x", {etag}', '{etag} , "y"', '"a,b", {etag}', "*"])
def test_if_match_lists_and_star_are_accepted(api: ApiClient, body: Body, template: str) -> None:
    created = api.create(body())
    response = api.patch(
        f"/crm/connectors/{created.json()['id']}",
        json={"description": "new"},
        headers={"If-Match": template.format(etag=created.headers["ETag"])},
    )
    assert response.status_code == 200


# --- If-None-Match ----------------------------------------------------------


@pytest.mark.parametrize("template", ["W/{etag}", '"x", W/{etag}', "{etag}", "*"])
def test_if_none_match_compares_weakly(api: ApiClient, body: Body, template: str) -> None:
    created = api.create(body())
    response = api.get(
        f"/crm/connectors/{created.json()['id']}",
        headers={"If-None-Match": template.format(etag=created.headers["ETag"])},
    )
    assert response.status_code == 304
    assert response.headers["ETag"] == created.headers["ETag"]


@pytest.mark.parametrize("value", ['"other"', 'W/"other"', "garbage"])
def test_if_none_match_that_does_not_match_gets_the_body(
    api: ApiClient, body: Body, value: str
) -> None:
    created = api.create(body())
    response = api.get(f"/crm/connectors/{created.json()['id']}", headers={"If-None-Match": value})
    assert response.status_code == 200


# --- 405 and Allow ----------------------------------------------------------


def allowed(response: httpx.Response) -> set[str]:
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    return {m.strip() for m in response.headers["Allow"].split(",")}


def test_allow_lists_every_method_of_an_api_route(api: ApiClient, body: Body) -> None:
    cid = api.create(body()).json()["id"]
    assert allowed(api.options("/crm/connectors")) == {"GET", "HEAD", "POST"}
    assert allowed(api.delete("/crm/connectors")) == {"GET", "HEAD", "POST"}
    assert allowed(api.delete(f"/crm/connectors/{cid}")) == {"GET", "HEAD", "PATCH"}
    assert allowed(api.put(f"/crm/connectors/{cid}", json={})) == {"GET", "HEAD", "PATCH"}
    assert allowed(api.get(f"/crm/connectors/{cid}/sync")) == {"POST"}
    assert allowed(api.get("/oauth/token")) == {"POST"}


def test_allow_lists_every_method_of_an_admin_route(emulator: RunningEmulator) -> None:
    root = emulator.root_url + "/_emulator"
    assert allowed(httpx.get(root + "/connectors/conn_x")) == {"PATCH", "DELETE"}
    assert allowed(httpx.delete(root + "/faults")) == {"GET", "HEAD", "POST"}
    assert allowed(httpx.get(root + "/reset")) == {"POST"}
    # A method the route lacks is 405 before any Content-Type rule (not 415).
    assert allowed(httpx.put(root + "/reset", content=b"x")) == {"POST"}
