"""Which failures are retried, how long each wait is, and what a caller finally sees."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from reconciler.cxone.errors import (
    AuthError,
    Conflict,
    CxoneApiError,
    NotFound,
    PermissionDenied,
    PreconditionRequired,
    RateLimited,
    ServerError,
    TransportError,
    ValidationFailed,
)
from reconciler.cxone.retry import (
    Delivery,
    Replay,
    RetryPolicy,
    may_retry,
    parse_retry_after,
)

from .fakes import FakeCxone, FakeTime

pytestmark = pytest.mark.anyio

ONE = "*/crm/connectors/c000001"


def seeded_backoffs(count: int, policy: RetryPolicy) -> list[float]:
    """The waits `policy` draws for attempts 1..count, replayed from the same seed."""
    replay = RetryPolicy(rng=random.Random(7), base=policy.base, cap=policy.cap)
    return [replay.backoff(n) for n in range(1, count + 1)]


# --- the policy on its own ------------------------------------------------------


def test_full_jitter_stays_within_the_exponential_envelope_and_the_cap() -> None:
    policy = RetryPolicy(base=0.5, cap=4.0, rng=random.Random(3))
    for attempt in range(1, 12):
        ceiling = min(4.0, 0.5 * 2 ** (attempt - 1))
        draws = [policy.backoff(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in draws)
        assert max(draws) > ceiling * 0.8  # spread over the whole range, not a fixed delay


def test_retry_after_is_a_floor_not_a_replacement() -> None:
    def policy() -> RetryPolicy:
        return RetryPolicy(base=10.0, cap=10.0, rng=random.Random(0))

    drawn = policy().backoff(1)
    assert 0 < drawn < 10
    assert policy().wait_before_retry(1, 30.0) == 30.0
    assert policy().wait_before_retry(1, 0.0) == drawn
    assert policy().wait_before_retry(1, drawn / 2) == drawn


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        ("0", 0.0),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past: no wait
        ("soon", None),
        ("-3", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_accepts_seconds_and_http_dates(
    value: str | None, expected: float | None
) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after(value, now=now) == expected


def test_replay_rules() -> None:
    assert may_retry(Replay.SAFE, Delivery.MAYBE_LANDED, 503)
    assert may_retry(Replay.CONDITIONAL, Delivery.MAYBE_LANDED)
    assert may_retry(Replay.KEYED, Delivery.MAYBE_LANDED, 504)
    assert may_retry(Replay.ONCE, Delivery.NOT_SENT, 429)
    assert not may_retry(Replay.ONCE, Delivery.MAYBE_LANDED, 503)
    assert not may_retry(Replay.SAFE, Delivery.FATAL)
    assert may_retry(Replay.SAFE, Delivery.MAYBE_LANDED, 500)  # a read is harmless to repeat
    assert not may_retry(Replay.CONDITIONAL, Delivery.MAYBE_LANDED, 500)
    assert not may_retry(Replay.KEYED, Delivery.MAYBE_LANDED, 500)
    assert not may_retry(Replay.SAFE, Delivery.MAYBE_LANDED, 501)


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="cap"):
        RetryPolicy(base=2, cap=1)


# --- through the client ------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_retryable_status_without_retry_after_waits_a_jittered_backoff(status: int) -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("a")
    fake.fail("GET", ONE, status=status, times=2)
    async with fake.client(time) as client:
        got = await client.get_connector("c000001")
        policy = client.retry
    assert got.name == "a"
    assert time.waits == seeded_backoffs(2, policy)
    assert len(fake.api_requests()) == 3
    snap = client.stats.snapshot().get("get_connector")
    assert (snap.requests, snap.retries) == (3, 2)
    assert snap.rate_limited == (2 if status == 429 else 0)


async def test_a_plain_500_is_retried_for_a_read_but_not_for_a_write() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("a")
    fake.fail("GET", ONE, status=500)
    fake.fail("PATCH", ONE, status=500)
    async with fake.client(time) as client:
        got = await client.get_connector("c000001")
        with pytest.raises(ServerError):
            await client.patch_connector("c000001", etag=got.etag, body={"description": "d"})
    assert got.name == "a"
    snap = client.stats.snapshot()
    assert (snap.get("get_connector").requests, snap.get("get_connector").retries) == (2, 1)
    assert (snap.get("patch_connector").requests, snap.get("patch_connector").retries) == (1, 0)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_retry_after_seconds_is_waited_at_least(status: int) -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("a")
    fake.fail("GET", ONE, status=status, headers={"Retry-After": "7"})
    async with fake.client(time) as client:
        await client.get_connector("c000001")
    assert time.waits == [7.0]


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_http_date_is_waited_until(status: int) -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("a")
    when = datetime.fromtimestamp(time.wall() + 12, tz=UTC)
    fake.fail(
        "GET", ONE, status=status, headers={"Retry-After": format_datetime(when, usegmt=True)}
    )
    async with fake.client(time) as client:
        await client.get_connector("c000001")
    assert len(time.waits) == 1
    assert 11.0 < time.waits[0] <= 12.0  # the date has whole-second precision


async def test_retries_stop_after_max_attempts_with_the_last_error() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("a")
    fake.fail("GET", ONE, status=503, times=10)
    policy = RetryPolicy(max_attempts=4, rng=random.Random(7), sleep=time.sleep, clock=time.clock)
    async with fake.client(time, retry=policy) as client:
        with pytest.raises(ServerError, match="after 4 attempts") as caught:
            await client.get_connector("c000001")
    assert caught.value.status == 503
    assert len(fake.api_requests()) == 4
    assert client.stats.snapshot().get("get_connector").errors == {"ServerError": 1}


async def test_a_retry_after_beyond_the_deadline_ends_the_call_at_once() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("a")
    fake.fail("GET", ONE, status=429, headers={"Retry-After": "3600"})
    policy = RetryPolicy(deadline=60, sleep=time.sleep, clock=time.clock)
    async with fake.client(time, retry=policy) as client:
        with pytest.raises(RateLimited) as caught:
            await client.get_connector("c000001")
    assert caught.value.retry_after == 3600
    assert time.waits == []


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ValidationFailed),
        (403, PermissionDenied),
        (404, NotFound),
        (409, Conflict),
        (412, Conflict),
        (422, ValidationFailed),
        (428, PreconditionRequired),
        (500, ServerError),
        (418, CxoneApiError),
    ],
)
async def test_non_retryable_statuses_fail_fast_with_their_type(
    status: int, error: type[CxoneApiError]
) -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("a")
    body = {"error": "nope", "message": "the server's reason", "details": [{"path": "/name"}]}
    fake.fail("PATCH", ONE, status=status, body=body)
    async with fake.client(time) as client:
        with pytest.raises(error) as caught:
            await client.patch_connector("c000001", etag='"x"', body={"description": "d"})
    assert type(caught.value) is error
    assert caught.value.status == status
    assert "the server's reason" in str(caught.value)
    assert "patch_connector" in str(caught.value)
    assert time.waits == []
    assert len(fake.api_requests()) == 1


async def test_a_404_on_a_connector_says_it_may_have_been_deleted() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.fail("GET", ONE, status=404)
    async with fake.client(time) as client:
        with pytest.raises(NotFound, match="deleted outside cxrecon"):
            await client.get_connector("c000001")


@pytest.mark.parametrize(
    ("method", "path", "setting"),
    [("GET", "*/crm/connectors", "CXONE_BASE_URL"), ("POST", "*/oauth/token", "CXONE_TOKEN_URL")],
)
async def test_a_404_on_a_route_that_always_exists_points_at_the_url_setting(
    method: str, path: str, setting: str
) -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.fail(method, path, status=404)
    async with fake.client(time) as client:
        with pytest.raises(NotFound) as caught:
            await client.list_connectors()
    assert f"check {setting}" in str(caught.value)
    assert "deleted" not in str(caught.value)


async def test_401_refreshes_once_and_retries_once_then_fails() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("a")
    fake.fail("GET", ONE, status=401, times=5)
    async with fake.client(time) as client:
        with pytest.raises(AuthError, match="freshly issued token"):
            await client.get_connector("c000001")
    assert len(fake.token_requests) == 2
    assert len(fake.api_requests()) == 2
    assert time.waits == []


async def test_token_revoked_mid_run_with_fifty_concurrent_requests_refreshes_once() -> None:
    import asyncio

    fake, time = FakeCxone(), FakeTime()
    fake.add("a")
    async with fake.client(time, parallelism=50) as client:
        await client.get_connector("c000001")
        fake.revoke_tokens()
        got = await asyncio.gather(*(client.get_connector("c000001") for _ in range(50)))
    assert len(got) == 50
    assert len(fake.token_requests) == 2
    assert client.stats.snapshot().get("token").requests == 2


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout, httpx.RemoteProtocolError],
)
async def test_transport_failures_of_a_read_are_retried(error: type[httpx.TransportError]) -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("a")
    fake.fail("GET", ONE, error=error, times=2)
    async with fake.client(time) as client:
        assert (await client.get_connector("c000001")).name == "a"
    assert len(time.waits) == 2
    reasons = client.stats.snapshot().get("get_connector").retry_reasons
    assert reasons == {error.__name__: 2}


async def test_an_unsupported_protocol_is_not_retried() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("a")
    fake.fail("GET", ONE, error=httpx.UnsupportedProtocol)
    async with fake.client(time) as client:
        with pytest.raises(TransportError, match="UnsupportedProtocol"):
            await client.get_connector("c000001")
    assert time.waits == []


async def test_start_sync_is_not_replayed_once_it_may_have_landed() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("a")
    fake.fail("POST", f"{ONE}/sync", error=httpx.ReadTimeout)
    async with fake.client(time) as client:
        with pytest.raises(TransportError, match="timed out waiting for the answer"):
            await client.start_sync("c000001")
    assert len(fake.api_requests("POST")) == 1


async def test_start_sync_is_replayed_after_a_429_or_a_refused_connection() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("a")
    fake.fail("POST", f"{ONE}/sync", status=429, headers={"Retry-After": "1"})
    fake.fail("POST", f"{ONE}/sync", error=httpx.ConnectError)
    async with fake.client(time) as client:
        assert await client.start_sync("c000001") == "s1"
    assert len(fake.api_requests("POST")) == 3
