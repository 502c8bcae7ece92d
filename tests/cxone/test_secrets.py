"""Canary values: no client secret, password, token or sent credential in any error or log."""

from __future__ import annotations

import logging
import traceback

import httpx
import pytest

from reconciler.cxone.auth import TokenProvider
from reconciler.cxone.errors import AuthError, CxoneApiError, ValidationFailed, scrub, shorten
from reconciler.secret import Secret

from .fakes import CANARY_PASSWORD, CANARY_SECRET, TOKEN_PREFIX, FakeCxone, FakeTime, settings

pytestmark = pytest.mark.anyio

CANARY_CRM_KEY = "canary-crm-api-key-55Ke"
CANARIES = (CANARY_SECRET, CANARY_PASSWORD, TOKEN_PREFIX, CANARY_CRM_KEY)


def assert_clean(*texts: str) -> None:
    for text in texts:
        for canary in CANARIES:
            assert canary not in text, f"{canary!r} leaked into {text[:200]!r}"


def everything_about(error: BaseException) -> str:
    return "\n".join(
        [str(error), repr(error), "".join(traceback.format_exception(error)), *map(str, error.args)]
    )


async def test_a_token_endpoint_that_echoes_credentials_does_not_leak_them() -> None:
    fake, time = FakeCxone(), FakeTime()
    echo = f"bad request: client_secret={CANARY_SECRET}&password={CANARY_PASSWORD}"
    fake.override = lambda r: httpx.Response(400, text=echo)
    password_settings = settings(grant="password", username="u", password=Secret(CANARY_PASSWORD))
    async with fake.client(time, settings=password_settings) as client:
        with pytest.raises(AuthError) as caught:
            await client.list_connectors()
    assert_clean(everything_about(caught.value))
    assert "bad request" in str(caught.value)


async def test_an_api_error_that_echoes_the_token_and_sent_credentials_does_not_leak() -> None:
    fake, time = FakeCxone(), FakeTime()

    def echo(request: httpx.Request) -> httpx.Response | None:
        if request.method != "POST" or request.url.path.endswith("/oauth/token"):
            return None
        said = {
            "error": "invalid",
            "message": f"you sent {request.headers['Authorization']} and {request.content!r}",
            "details": {"access_token": request.headers["Authorization"][7:]},
        }
        return httpx.Response(422, json=said)

    fake.override = echo
    body = {
        "name": "n",
        "connectorType": "CUSTOM",
        "endpointUrl": "https://crm.example.com",
        "authentication": {"type": "API_KEY", "credentials": {"key": CANARY_CRM_KEY}},
    }
    async with fake.client(time) as client:
        with pytest.raises(ValidationFailed) as caught:
            await client.create_connector(body, idempotency_key="k")
    text = everything_about(caught.value)
    assert_clean(text)
    assert "you sent" in text


async def test_reprs_of_settings_provider_and_client_hold_no_secret() -> None:
    fake, time = FakeCxone(), FakeTime()
    async with fake.client(time) as client:
        await client.list_connectors()
        provider = TokenProvider(
            settings(), httpx.AsyncClient(), retry=client.retry, stats=client.stats
        )
        assert_clean(repr(settings()), repr(client), repr(provider), repr(client.stats.snapshot()))


async def test_no_log_record_of_a_troubled_run_carries_a_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("a")
    fake.fail("POST", "*/oauth/token", status=503)
    fake.fail("GET", "*/c000001", status=429, headers={"Retry-After": "1"})
    fake.fail("GET", "*/c000001", status=401)
    fake.fail("GET", "*/c000001", error=httpx.ReadTimeout)
    with caplog.at_level(logging.DEBUG):
        async with fake.client(time) as client:
            await client.get_connector("c000001")
            fake.fail("GET", "*/c000001", status=404)
            with pytest.raises(CxoneApiError):
                await client.get_connector("c000001")
    assert len(caplog.records) > 3
    assert_clean(*(r.getMessage() for r in caplog.records))


def test_scrub_masks_credential_shaped_values() -> None:
    text = (
        '{"access_token": "abc123", "client_secret":"s3cr3t", "password": 42}'
        " Authorization: Bearer eyJhbGciOi.x.y  api_key=zzz9&other=1"
    )
    cleaned = scrub(text)
    for value in ("abc123", "s3cr3t", "42", "eyJhbGciOi", "zzz9"):
        assert value not in cleaned
    assert "other=1" in cleaned


def test_bodies_are_cut_to_one_short_line() -> None:
    assert shorten("line1\nline2\x1b[31m" + "x" * 1000).startswith("line1\\nline2\\x1b[31m")
    assert len(shorten("y" * 5000)) == 500
