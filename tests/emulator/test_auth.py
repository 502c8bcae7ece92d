"""OAuth token endpoint and bearer checks: grants, client auth, scopes, expiry."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from reconciler.testing import RunningEmulator, api_client

CLIENT = {"client_id": "demo-client", "client_secret": "demo-secret"}


def basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


@pytest.fixture
def http(emulator: RunningEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.base_url, timeout=10) as client:
        yield client


def test_client_credentials_in_a_form_body_get_a_bearer_token(http: httpx.Client) -> None:
    response = http.post("/oauth/token", data={"grant_type": "client_credentials", **CLIENT})
    assert response.status_code == 200
    token = response.json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["scope"] == "crm:connectors:read crm:connectors:write"
    assert response.headers["cache-control"] == "no-store"


def test_client_credentials_in_a_json_body_as_the_seed_sends_them(http: httpx.Client) -> None:
    body = {"grant_type": "client_credentials", **CLIENT, "scope": "crm:connectors:read"}
    response = http.post("/oauth/token", json=body)
    assert response.status_code == 200
    assert response.json()["scope"] == "crm:connectors:read"


def test_client_credentials_with_http_basic(http: httpx.Client) -> None:
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic("demo-client", "demo-secret"),
    )
    assert response.status_code == 200


def test_password_grant_with_basic_client_auth_like_real_cxone(http: httpx.Client) -> None:
    response = http.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "demo-user", "password": "demo-password"},
        headers=basic("demo-client", "demo-secret"),
    )
    assert response.status_code == 200


def test_password_grant_without_basic_client_auth_is_401(http: httpx.Client) -> None:
    data = {"grant_type": "password", "username": "demo-user", "password": "demo-password"}
    response = http.post("/oauth/token", data={**data, **CLIENT})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_password_grant_with_a_wrong_password_is_invalid_grant(http: httpx.Client) -> None:
    response = http.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "demo-user", "password": "nope"},
        headers=basic("demo-client", "demo-secret"),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        (
            {
                "grant_type": "client_credentials",
                "client_id": "demo-client",
                "client_secret": "canary-9d2",
            },
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "client_credentials", "client_id": "who", "client_secret": "x"},
            401,
            "invalid_client",
        ),
        ({"grant_type": "authorization_code", **CLIENT}, 400, "unsupported_grant_type"),
        ({**CLIENT}, 400, "invalid_request"),
        (
            {"grant_type": "client_credentials", **CLIENT, "scope": "crm:admin"},
            400,
            "invalid_scope",
        ),
    ],
)
def test_bad_token_requests_are_refused(
    http: httpx.Client, data: dict[str, str], status: int, error: str
) -> None:
    response = http.post("/oauth/token", data=data)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error
    assert body["message"]
    assert "canary-9d2" not in response.text  # the secret sent is never echoed


def test_client_auth_both_in_basic_and_body_is_invalid_request(http: httpx.Client) -> None:
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", **CLIENT},
        headers=basic("demo-client", "demo-secret"),
    )
    assert response.status_code == 400


def test_token_request_in_plain_text_is_415(http: httpx.Client) -> None:
    response = http.post("/oauth/token", content=b"grant_type=client_credentials")
    assert response.status_code == 415


def test_api_without_a_token_is_401_with_www_authenticate(http: httpx.Client) -> None:
    response = http.get("/crm/connectors")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"] == "unauthorized"


def test_api_with_an_unknown_token_is_401_invalid_token(http: httpx.Client) -> None:
    response = http.get("/crm/connectors", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_expired_token_is_401(emulator: RunningEmulator) -> None:
    with api_client(emulator) as api:
        assert api.get("/crm/connectors").status_code == 200
        emulator.control.advance_clock(3600)
        response = api.get("/crm/connectors")
    assert response.status_code == 401
    assert "expired" in response.json()["message"]


def test_read_only_token_cannot_write_403(emulator: RunningEmulator) -> None:
    with api_client(emulator, scope="crm:connectors:read") as api:
        assert api.get("/crm/connectors").status_code == 200
        response = api.post("/crm/connectors", json={})
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert 'scope="crm:connectors:write"' in response.headers["www-authenticate"]


def test_write_only_token_cannot_read_403(emulator: RunningEmulator) -> None:
    with api_client(emulator, scope="crm:connectors:write") as api:
        response = api.get("/crm/connectors")
    assert response.status_code == 403
