"""Token lifecycle: grants, caching with a margin, one refresh for many waiters, 401 handling."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from urllib.parse import parse_qs

import httpx
import pytest

from reconciler.cxone.auth import TokenProvider
from reconciler.cxone.errors import AuthError, MalformedResponse
from reconciler.cxone.retry import RetryPolicy
from reconciler.cxone.stats import ApiStats
from reconciler.secret import Secret

from .fakes import CANARY_PASSWORD, CANARY_SECRET, FakeCxone, FakeTime, settings

pytestmark = pytest.mark.anyio


def provider(fake: FakeCxone, time: FakeTime, **changes: object) -> TokenProvider:
    http = httpx.AsyncClient(transport=fake.transport())
    retry = RetryPolicy(rng=random.Random(1), sleep=time.sleep, clock=time.clock)
    return TokenProvider(settings(**changes), http, retry=retry, stats=ApiStats(), clock=time.clock)


async def test_client_credentials_are_sent_as_a_form_in_the_body() -> None:
    fake, time = FakeCxone(), FakeTime()
    token = await provider(fake, time).token()
    (request,) = fake.token_requests
    form = parse_qs(request.content.decode())
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_id"] == ["cxrecon-test"]
    assert form["client_secret"] == [CANARY_SECRET]
    assert form["scope"] == ["crm:connectors:read crm:connectors:write"]
    assert "Authorization" not in request.headers
    assert token.reveal() == "canary-token-1"


async def test_password_grant_uses_http_basic_client_auth_and_a_json_body() -> None:
    fake, time = FakeCxone(), FakeTime()
    auth = provider(
        fake,
        time,
        grant="password",
        username="agent@example.com",
        password=Secret(CANARY_PASSWORD),
        token_body="json",
    )
    await auth.token()
    (request,) = fake.token_requests
    scheme, _, encoded = request.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == f"cxrecon-test:{CANARY_SECRET}"
    body = json.loads(request.content)
    assert body["grant_type"] == "password"
    assert body["username"] == "agent@example.com"
    assert body["password"] == CANARY_PASSWORD
    assert "client_secret" not in body


async def test_token_is_cached_until_a_safety_margin_before_expiry() -> None:
    fake, time = FakeCxone(token_ttl=600), FakeTime()
    auth = provider(fake, time)
    first = await auth.token()
    time.now += 600 - 30 - 1  # margin: min(30 s, ttl/10)
    assert await auth.token() == first
    time.now += 2
    assert await auth.token() != first
    assert len(fake.token_requests) == 2


async def test_fifty_waiters_on_an_expired_token_cause_exactly_one_token_request() -> None:
    fake, time = FakeCxone(token_ttl=60), FakeTime()
    auth = provider(fake, time)
    await auth.token()
    time.now += 3600
    tokens = await asyncio.gather(*(auth.token() for _ in range(50)))
    assert len(fake.token_requests) == 2
    assert {t.reveal() for t in tokens} == {"canary-token-2"}


async def test_refresh_after_401_is_shared_by_everyone_holding_the_stale_token() -> None:
    fake, time = FakeCxone(), FakeTime()
    auth = provider(fake, time)
    stale = await auth.token()
    fresh = await asyncio.gather(*(auth.refresh(stale) for _ in range(50)))
    assert len(fake.token_requests) == 2
    assert {t.reveal() for t in fresh} == {"canary-token-2"}


async def test_rejected_credentials_raise_auth_error_without_retrying() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.fail("POST", "*/oauth/token", status=401, body={"error": "invalid_client"}, times=5)
    with pytest.raises(AuthError, match="refused the credentials") as caught:
        await provider(fake, time).token()
    assert caught.value.operation == "token"
    assert len(fake.requests) == 1


async def test_token_endpoint_outage_is_retried_with_backoff() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.fail("POST", "*/oauth/token", status=503, times=2)
    assert (await provider(fake, time).token()).reveal() == "canary-token-1"
    assert len(fake.requests) == 3
    assert len(time.waits) == 2


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"token_type": "Bearer", "expires_in": 60}, "no access_token"),
        ({"access_token": "a b", "expires_in": 60}, "cannot go into a header"),
        ({"access_token": "t", "token_type": "mac", "expires_in": 60}, "other than Bearer"),
        ({"access_token": "t", "expires_in": "soon"}, "not a number"),
        ({"access_token": "t", "expires_in": 0}, "not positive"),
        (["t"], "not a JSON object"),
    ],
)
async def test_malformed_token_responses_name_the_problem(body: object, problem: str) -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.override = lambda _request: httpx.Response(200, json=body)
    with pytest.raises(MalformedResponse, match=problem):
        await provider(fake, time).token()


async def test_a_token_response_that_is_not_json_is_malformed() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.override = lambda _request: httpx.Response(200, text="<html>login</html>")
    with pytest.raises(MalformedResponse, match="token: the token response is not JSON"):
        await provider(fake, time).token()
