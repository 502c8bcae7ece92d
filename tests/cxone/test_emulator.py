"""The client against the real emulator: in-process (ASGI) and over a real loopback port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from reconciler.config.settings import (
    EMULATOR_CLIENT_ID,
    EMULATOR_CLIENT_SECRET,
    ConnectionSettings,
)
from reconciler.cxone.client import CxoneClient
from reconciler.cxone.errors import Conflict, NotFound, ValidationFailed
from reconciler.cxone.retry import RetryPolicy
from reconciler.emulator.config import EmulatorConfig, OAuthClient
from reconciler.emulator.faults import parse_script
from reconciler.secret import Secret
from reconciler.testing import InProcessEmulator, RunningEmulator

from .emulated import IN_PROCESS_BASE, document, seed

pytestmark = pytest.mark.anyio

EmulatorFactory = Callable[..., RunningEmulator]  # the root conftest's emulator_factory

FAST_RETRY = RetryPolicy(base=0.01, cap=0.05)


def in_process(emulator: InProcessEmulator, **kw: object) -> CxoneClient:
    settings = ConnectionSettings.for_emulator(IN_PROCESS_BASE)
    return CxoneClient(settings, transport=emulator.transport(), **kw)  # type: ignore[arg-type]


def over_port(emulator: RunningEmulator, **kw: object) -> CxoneClient:
    settings = ConnectionSettings.for_emulator(emulator.base_url)
    return CxoneClient(settings, **kw)  # type: ignore[arg-type]


def requests_to(emulator: RunningEmulator, route: str) -> dict[str, int]:
    counts: dict[str, int] = emulator.control.stats()["requests"].get(route, {})
    return counts


@pytest.mark.parametrize("count", [1, 100, 101, 10_000])
async def test_listing_in_process(emulator_app: InProcessEmulator, count: int) -> None:
    seed(emulator_app.runtime, count)
    async with in_process(emulator_app) as client:
        listed = await client.list_connectors()
    assert len(listed) == count
    assert {c.name for c in listed} == {f"conn-{i:05d}" for i in range(count)}
    snapshot = client.stats.snapshot()
    assert snapshot.get("list_connectors").requests == max(1, -(-count // 100))
    assert snapshot.get("token").requests == 1


@pytest.mark.parametrize("count", [0, 101, 10_000])
async def test_listing_over_a_real_port(emulator: RunningEmulator, count: int) -> None:
    seed(emulator.runtime, count)
    async with over_port(emulator) as client:
        listed = await client.list_connectors()
    assert len({c.id for c in listed}) == count
    pages = max(1, -(-count // 100))
    assert client.stats.snapshot().get("list_connectors").requests == pages


async def test_full_lifecycle_over_a_real_port(emulator: RunningEmulator) -> None:
    async with over_port(emulator) as client:
        created = await client.create_connector(document("crm-a"), idempotency_key="key-a")
        assert created.spec.lifecycle_status == "DRAFT"
        assert created.spec.authentication.credentials["apiKey"] != "key-crm-a"  # masked
        fetched = await client.get_connector(created.id)
        assert fetched.etag == created.etag
        active = await client.patch_connector(
            created.id, etag=fetched.etag, body={"lifecycleStatus": "ACTIVE"}
        )
        assert active.spec.lifecycle_status == "ACTIVE"
        assert active.etag != fetched.etag
        with pytest.raises(Conflict) as stale:
            await client.patch_connector(created.id, etag=fetched.etag, body={"description": "x"})
        assert stale.value.status == 412
        sync_id = await client.start_sync(created.id)
        job = await client.get_sync(created.id, sync_id)
        assert job.connector_id == created.id
        assert [c.name for c in await client.find_by_name("crm-a")] == ["crm-a"]
        assert await client.find_by_name("nobody") == []


async def test_create_whose_answer_is_dropped_makes_no_duplicate(
    emulator: RunningEmulator,
) -> None:
    emulator.control.faults(next=[{"kind": "drop", "method": "POST", "path": "*/crm/connectors"}])
    async with over_port(emulator, retry=FAST_RETRY) as client:
        created = await client.create_connector(document("crm-drop"), idempotency_key="key-d")
        listed = await client.list_connectors()
    assert [c.name for c in listed] == ["crm-drop"]
    assert listed[0].id == created.id
    # One POST, committed and then dropped (the emulator logs it as status 0); no replay.
    assert requests_to(emulator, "POST /api/v2/crm/connectors") == {"0": 1}
    assert emulator.control.stats()["faults"] == {"drop": 1}


async def test_create_dropped_in_process_makes_no_duplicate(
    emulator_app: InProcessEmulator,
) -> None:
    emulator_app.runtime.faults.script.extend(parse_script([{"kind": "drop", "method": "POST"}]))
    async with in_process(emulator_app, retry=FAST_RETRY) as client:
        await client.create_connector(document("crm-drop"), idempotency_key="key-d")
        names = [c.name for c in await client.list_connectors()]
    assert names == ["crm-drop"]


@pytest.mark.parametrize("conflict_status", [409, 412])
async def test_patch_whose_answer_is_dropped_is_applied_once_and_reported_as_conflict(
    emulator_factory: EmulatorFactory, conflict_status: int
) -> None:
    emulator = emulator_factory(EmulatorConfig(conflict_status=conflict_status))
    async with over_port(emulator, retry=FAST_RETRY) as client:
        created = await client.create_connector(document("crm-p"), idempotency_key="key-p")
        emulator.control.faults(next=[{"kind": "drop", "method": "PATCH"}])
        with pytest.raises(Conflict, match="may have applied this change") as caught:
            await client.patch_connector(created.id, etag=created.etag, body={"version": "2.0.0"})
        assert caught.value.status == conflict_status
        after = await client.get_connector(created.id)
    assert after.spec.version == "2.0.0"
    row = emulator.runtime.store.read().connector(created.id)
    assert row is not None
    assert row.revision == 2  # created, then patched exactly once


async def test_token_expiring_mid_run_under_fifty_concurrent_requests_is_fetched_once(
    emulator: RunningEmulator,
) -> None:
    seed(emulator.runtime, 5)
    async with over_port(emulator, parallelism=50) as client:
        listed = await client.list_connectors()
        emulator.control.advance_clock(7200)  # every token the emulator issued has expired
        got = await asyncio.gather(*(client.get_connector(listed[i % 5].id) for i in range(50)))
    assert len(got) == 50
    assert requests_to(emulator, "POST /api/v2/oauth/token") == {"200": 2}
    assert client.stats.snapshot().get("get_connector").retry_reasons == {"HTTP 401": 50}


async def test_password_grant_against_the_emulator(emulator: RunningEmulator) -> None:
    settings = ConnectionSettings(
        base_url=emulator.base_url,
        token_url=f"{emulator.base_url}/oauth/token",
        client_id=EMULATOR_CLIENT_ID,
        client_secret=Secret(EMULATOR_CLIENT_SECRET),
        grant="password",
        username="demo-user",
        password=Secret("demo-password"),
        token_body="json",
    )
    async with CxoneClient(settings) as client:
        assert await client.list_connectors() == []


@pytest.mark.parametrize("grant", ["password", "client_credentials"])
async def test_a_client_secret_with_form_special_characters_authenticates(
    emulator_factory: EmulatorFactory, grant: str
) -> None:
    # RFC 6749 2.3.1 form-encodes id and secret inside HTTP Basic; '+' must not become ' '.
    secret = "s3cr+t%20:with spaces&more"
    emulator = emulator_factory(
        EmulatorConfig(
            clients={
                "odd client+id": OAuthClient(
                    secret, frozenset({"crm:connectors:read", "crm:connectors:write"})
                )
            }
        )
    )
    settings = ConnectionSettings(
        base_url=emulator.base_url,
        token_url=f"{emulator.base_url}/oauth/token",
        client_id="odd client+id",
        client_secret=Secret(secret),
        grant=grant,  # type: ignore[arg-type]
        username="demo-user" if grant == "password" else None,
        password=Secret("demo-password") if grant == "password" else None,
    )
    async with CxoneClient(settings) as client:
        assert await client.list_connectors() == []


async def test_client_errors_fail_fast_with_the_server_message(emulator: RunningEmulator) -> None:
    async with over_port(emulator) as client:
        with pytest.raises(NotFound):
            await client.get_connector("conn_0000000000000000")
        with pytest.raises(ValidationFailed, match="endpointUrl") as caught:
            await client.create_connector(
                document("bad", endpointUrl="not a url"), idempotency_key="key-bad"
            )
    assert caught.value.attempts == 1


async def test_flaky_server_is_ridden_out_by_retries(emulator_factory: EmulatorFactory) -> None:
    emulator = emulator_factory(
        EmulatorConfig(
            fault_rate=0.2, fault_kinds=("502", "503", "reset"), fault_retry_after_s=0, seed=11
        )
    )
    seed(emulator.runtime, 250)
    async with over_port(emulator, retry=FAST_RETRY) as client:
        listed = await client.list_connectors()
        for connector in listed[:40]:
            await client.get_connector(connector.id)
    assert len(listed) == 250
    assert client.stats.snapshot().retries > 0


async def test_rate_limited_run_stays_under_the_limit_without_429_storms(
    emulator_factory: EmulatorFactory,
) -> None:
    emulator = emulator_factory(EmulatorConfig(rate_limit=100, burst=20))
    seed(emulator.runtime, 1)
    async with over_port(emulator) as client:
        (only,) = await client.list_connectors()
        started = time.monotonic()
        await asyncio.gather(*(client.get_connector(only.id) for _ in range(200)))
        elapsed = time.monotonic() - started
    snapshot = client.stats.snapshot().get("get_connector")
    assert snapshot.rate_limited <= 4, f"{snapshot.rate_limited} of 200 answered 429"
    assert elapsed >= (200 - 20) / 100 * 0.85
