"""Endpoint behaviour on a fake server: pagination, parsing, hostile ids, URL rules, writes."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest

from reconciler.cxone.client import ApiPaths, CxoneClient
from reconciler.cxone.errors import (
    Conflict,
    InconsistentListing,
    MalformedResponse,
    TransportError,
    UnsafeIdentifier,
)
from reconciler.cxone.retry import RetryPolicy
from reconciler.errors import ConfigError

from .fakes import FakeCxone, FakeTime, connector_body, settings

pytestmark = pytest.mark.anyio

NEW = {
    "name": "new-one",
    "connectorType": "CUSTOM",
    "endpointUrl": "https://crm.example.com",
    "authentication": {"type": "API_KEY", "credentials": {"apiKey": "k"}},
}


# --- pagination -------------------------------------------------------------------


@pytest.mark.parametrize(("count", "pages"), [(0, 1), (1, 1), (100, 1), (101, 2), (10_000, 100)])
async def test_listing_reads_every_page_once(count: int, pages: int) -> None:
    fake, time = FakeCxone(), FakeTime()
    for i in range(count):
        fake.add(f"conn-{i:05d}")
    async with fake.client(time) as client:
        listed = await client.list_connectors()
    assert [c.name for c in listed] == [f"conn-{i:05d}" for i in range(count)]
    gets = fake.api_requests("GET")
    assert len(gets) == pages
    assert sorted(int(r.url.params["skip"]) for r in gets) == [100 * p for p in range(pages)]
    assert {r.url.params["top"] for r in gets} == {"100"}


async def test_a_listing_that_shifts_while_read_is_read_again() -> None:
    fake, time = FakeCxone(), FakeTime()
    for i in range(150):
        fake.add(f"conn-{i}")
    calls = {"n": 0}

    def shift(request: httpx.Request) -> httpx.Response | None:
        if request.method == "GET" and request.url.params.get("skip") == "100":
            calls["n"] += 1
            if calls["n"] == 1:
                fake.add("created-meanwhile")  # page 2 now disagrees about totalRecords
        return None

    fake.override = shift
    async with fake.client(time) as client:
        listed = await client.list_connectors()
    assert len(listed) == 151
    assert len({c.id for c in listed}) == 151


async def test_a_listing_that_never_settles_is_an_error_not_a_partial_answer() -> None:
    fake, time = FakeCxone(), FakeTime()
    for i in range(150):
        fake.add(f"conn-{i}")

    def duplicate(request: httpx.Request) -> httpx.Response | None:
        if request.url.params.get("skip") == "100":
            items = [dict(fake.connectors["c000001"], etag='"e"')] * 50
            return httpx.Response(200, json={"items": items, "totalRecords": 150})
        return None

    fake.override = duplicate
    async with fake.client(time) as client:
        with pytest.raises(InconsistentListing, match="appeared twice"):
            await client.list_connectors()


async def test_without_total_records_pages_are_walked_until_a_short_one() -> None:
    fake, time = FakeCxone(), FakeTime()
    rows = [connector_body(f"id{i}", f"n{i}", etag='"e"') for i in range(250)]

    def untotalled(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith("/crm/connectors"):
            skip = int(request.url.params["skip"])
            return httpx.Response(200, json={"items": rows[skip : skip + 100]})
        return None

    fake.override = untotalled
    async with fake.client(time) as client:
        assert len(await client.list_connectors()) == 250
    assert len(fake.api_requests()) == 3


async def test_find_by_name_uses_the_server_filter() -> None:
    fake, time = FakeCxone(), FakeTime()
    for i in range(300):
        fake.add(f"conn-{i}")
    async with fake.client(time) as client:
        found = await client.find_by_name("conn-42")
    assert [c.name for c in found] == ["conn-42"]
    assert len(fake.api_requests()) == 1
    assert fake.api_requests()[0].url.params["name"] == "conn-42"


async def test_find_by_name_falls_back_to_the_full_list_when_the_filter_is_ignored() -> None:
    fake, time = FakeCxone(honour_name_filter=False), FakeTime()
    for i in range(300):
        fake.add(f"conn-{i}")
    async with fake.client(time) as client:
        found = await client.find_by_name("conn-250")
    assert [c.name for c in found] == ["conn-250"]


# --- parsing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (httpx.Response(200, text="<html>proxy login</html>"), "not JSON"),
        (httpx.Response(200, json=[1, 2]), "expected a JSON object, got an array"),
        (httpx.Response(200, json={"id": "c000001"}), "lacks name, connectorType"),
        (
            httpx.Response(200, json=connector_body("c000001", "a", etag='"e"', mappings="x")),
            "mappings is a string, expected an array",
        ),
        (
            httpx.Response(200, json={**connector_body("c000001", "a", etag='"e"'), "name": 7}),
            "name is a number",
        ),
        (
            httpx.Response(
                200, json=connector_body("c000001", "a", etag='"e"', mappings=[{"crmField": "x"}])
            ),
            "bad shape",
        ),
        (httpx.Response(200, json=connector_body("c000001", "a")), "no ETag"),
        (
            httpx.Response(200, json=connector_body("c000002", "a", etag='"e"')),
            "asked for connector c000001, got c000002",
        ),
    ],
)
async def test_malformed_connector_responses_name_the_operation(
    answer: httpx.Response, problem: str
) -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("a")
    fake.override = lambda r: answer if r.url.path.endswith("c000001") else None
    async with fake.client(time) as client:
        with pytest.raises(MalformedResponse, match=problem) as caught:
            await client.get_connector("c000001")
    assert str(caught.value).startswith("get_connector: ")
    assert time.waits == []  # a malformed answer is not retried


@pytest.mark.parametrize(
    "page",
    [
        {"items": "none", "totalRecords": 1},
        {"items": [], "totalRecords": "1"},
        {"items": [], "totalRecords": -1},
    ],
)
async def test_malformed_pages_are_refused(page: dict[str, Any]) -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.override = lambda r: httpx.Response(200, json=page) if "crm" in r.url.path else None
    async with fake.client(time) as client:
        with pytest.raises(MalformedResponse, match="list_connectors"):
            await client.list_connectors()


async def test_a_bad_sync_status_is_malformed() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("a")
    fake.override = lambda r: (
        httpx.Response(200, json={"syncId": "s1", "status": "DONE-ISH"})
        if "/sync/" in r.url.path
        else None
    )
    async with fake.client(time) as client:
        with pytest.raises(MalformedResponse, match="get_sync: sync s1 has an unknown status"):
            await client.get_sync("c000001", "s1")


async def test_sync_round_trip() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("a")
    async with fake.client(time) as client:
        sync_id = await client.start_sync("c000001", "INCREMENTAL")
        job = await client.get_sync("c000001", sync_id)
    assert json.loads(fake.api_requests("POST")[0].content) == {"syncType": "INCREMENTAL"}
    assert (job.sync_id, job.status, job.records_processed, job.finished) == (
        "s1",
        "COMPLETED",
        3,
        True,
    )


# --- hostile ids ------------------------------------------------------------------------

HOSTILE_IDS = ["../admin", "a/b", "%2e%2e", "a b", "tab\tid", "nl\nid", "", "x" * 129, "..", "é"]


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
async def test_a_hostile_id_from_the_server_never_reaches_a_url(hostile: str) -> None:
    fake, time = FakeCxone(), FakeTime()
    row = connector_body(hostile, "victim", etag='"e"')

    def listing(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith("/crm/connectors"):
            return httpx.Response(200, json={"items": [row], "totalRecords": 1})
        return None

    fake.override = listing
    async with fake.client(time) as client:
        with pytest.raises(UnsafeIdentifier, match="connector id") as caught:
            await client.list_connectors()
    assert "nothing was written" in str(caught.value)


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
async def test_a_hostile_id_is_refused_before_any_write(hostile: str) -> None:
    fake, time = FakeCxone(), FakeTime()
    async with fake.client(time) as client:
        with pytest.raises(UnsafeIdentifier, match="patch_connector"):
            await client.patch_connector(hostile, etag='"e"', body={"description": "x"})
        with pytest.raises(UnsafeIdentifier, match="start_sync"):
            await client.start_sync(hostile)
    assert fake.requests == []


async def test_a_hostile_sync_id_is_refused() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("a")
    fake.override = lambda r: (
        httpx.Response(202, json={"syncId": "../../x"}) if r.url.path.endswith("/sync") else None
    )
    async with fake.client(time) as client:
        with pytest.raises(UnsafeIdentifier, match="syncId"):
            await client.start_sync("c000001")


# --- URLs and TLS -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8787/api/v2",
        "http://127.1.2.3/api/v2",
        "http://[::1]:8080/api/v2",
        "http://localhost/api/v2",
        "https://tenant.example.com/api/v2",
    ],
)
def test_https_or_loopback_is_accepted(url: str) -> None:
    CxoneClient(settings(base_url=url, token_url=url + "/oauth/token"))


@pytest.mark.parametrize(
    ("url", "token_url", "setting"),
    [
        ("http://tenant.example.com/api/v2", "https://auth.example.com/token", "CXONE_BASE_URL"),
        ("http://10.0.0.5/api/v2", "https://auth.example.com/token", "CXONE_BASE_URL"),
        ("http://127.0.0.1.evil.com/api", "https://auth.example.com/token", "CXONE_BASE_URL"),
        ("ftp://tenant.example.com/api", "https://auth.example.com/token", "CXONE_BASE_URL"),
        ("https://tenant.example.com/api/v2", "http://auth.example.com/token", "CXONE_TOKEN_URL"),
    ],
)
def test_plain_http_to_another_host_is_a_config_error(
    url: str, token_url: str, setting: str
) -> None:
    with pytest.raises(ConfigError, match=f"{setting} must use https://"):
        CxoneClient(settings(base_url=url, token_url=token_url))


@pytest.mark.parametrize(
    "url", ["not-a-url", "api-na1.niceincontact.com/api/v2", "https:///api/v2"]
)
def test_a_url_without_scheme_or_host_is_named_as_given(url: str) -> None:
    with pytest.raises(ConfigError, match="CXONE_BASE_URL is not a full URL") as raised:
        CxoneClient(settings(base_url=url, token_url="https://auth.example.com/token"))
    assert repr(url) in str(raised.value)


def test_an_unreadable_ca_bundle_is_a_config_error(tmp_path: Any) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    with pytest.raises(ConfigError, match="CXONE_CA_BUNDLE"):
        CxoneClient(settings(ca_bundle=str(bogus)))
    with pytest.raises(ConfigError, match="CXONE_CA_BUNDLE"):
        CxoneClient(settings(ca_bundle=str(tmp_path / "missing.pem")))


async def test_paths_are_configurable() -> None:
    fake, time = FakeCxone(), FakeTime()
    seen: list[str] = []

    def record(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith("/oauth/token"):
            return None
        seen.append(request.url.path)
        return httpx.Response(200, json={"items": [], "totalRecords": 0})

    fake.override = record
    async with fake.client(time, paths=ApiPaths(connectors="/services/v32.0/crm-connectors")) as c:
        await c.list_connectors()
    assert seen[-1] == "/api/v2/services/v32.0/crm-connectors"


# --- writes ---------------------------------------------------------------------------------


async def test_patch_always_carries_if_match_and_a_merge_patch_body() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("a")
    async with fake.client(time) as client:
        current = await client.get_connector("c000001")
        patched = await client.patch_connector(
            "c000001", etag=current.etag, body={"description": "new"}
        )
        with pytest.raises(ValueError, match="ETag"):
            await client.patch_connector("c000001", etag="", body={"description": "x"})
    (patch,) = fake.api_requests("PATCH")
    assert patch.headers["If-Match"] == current.etag
    assert patch.headers["Content-Type"] == "application/merge-patch+json"
    assert json.loads(patch.content) == {"description": "new"}
    assert patched.spec.description == "new"
    assert patched.etag != current.etag


async def test_patch_whose_answer_was_lost_surfaces_as_conflict_not_a_second_apply() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("a")
    fake.fail("PATCH", "*/c000001", error=httpx.RemoteProtocolError, commit_first=True)
    async with fake.client(time) as client:
        current = await client.get_connector("c000001")
        with pytest.raises(Conflict, match="may have applied this change") as caught:
            await client.patch_connector("c000001", etag=current.etag, body={"version": "2.0.0"})
    assert caught.value.status == 412
    assert fake.versions["c000001"] == 2  # applied exactly once
    assert len(fake.api_requests("PATCH")) == 2


async def test_create_whose_answer_was_lost_returns_the_created_connector() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.fail("POST", "*/crm/connectors", error=httpx.ReadTimeout, commit_first=True)
    async with fake.client(time) as client:
        created = await client.create_connector(NEW, idempotency_key="k-1")
    assert created.name == "new-one"
    assert [c["name"] for c in fake.connectors.values()] == ["new-one"]
    assert len(fake.api_requests("POST")) == 1  # the lookup found it: no second POST


async def test_create_that_did_not_land_is_replayed_with_the_same_key() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.fail("POST", "*/crm/connectors", status=503)
    fake.fail("POST", "*/crm/connectors", error=httpx.ReadTimeout)
    async with fake.client(time) as client:
        created = await client.create_connector(NEW, idempotency_key="k-2")
    posts = fake.api_requests("POST")
    assert len(posts) == 3
    assert {p.headers["Idempotency-Key"] for p in posts} == {"k-2"}
    lookups = [r for r in fake.api_requests("GET") if r.url.params.get("name") == "new-one"]
    assert len(lookups) == 2  # one before each replay
    assert [c["name"] for c in fake.connectors.values()] == [created.name]


async def test_create_after_a_429_is_replayed_without_a_lookup() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.fail("POST", "*/crm/connectors", status=429, headers={"Retry-After": "2"})
    async with fake.client(time) as client:
        await client.create_connector(NEW, idempotency_key="k-3")
    assert fake.api_requests("GET") == []
    assert time.waits == [2.0]


async def test_create_refuses_to_guess_between_several_same_named_connectors() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("new-one")
    fake.add("new-one")
    fake.fail("POST", "*/crm/connectors", error=httpx.ReadError)
    async with fake.client(time) as client:
        with pytest.raises(Conflict, match="2 connectors named 'new-one'"):
            await client.create_connector(NEW, idempotency_key="k-4")
    assert len(fake.connectors) == 2


async def test_create_gives_up_with_a_transport_error_when_retries_run_out() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.fail("POST", "*/crm/connectors", error=httpx.ConnectError, times=10)
    async with fake.client(time) as client:
        with pytest.raises(TransportError, match="could not connect"):
            await client.create_connector(NEW, idempotency_key="k-5")
    assert fake.connectors == {}


async def test_an_unreachable_server_is_named_with_the_reason_the_os_gave() -> None:
    with socket.socket() as probe:  # a port nothing listens on: connecting is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}/api/v2"
    policy = RetryPolicy(max_attempts=1)
    async with CxoneClient(
        settings(base_url=base, token_url=f"{base}/oauth/token"), retry=policy
    ) as client:
        with pytest.raises(TransportError) as caught:
            await client.list_connectors()
    message = str(caught.value)
    assert f"could not reach the token endpoint (127.0.0.1:{port}; ConnectError: " in message
    assert "[Errno" in message  # the OS's reason, not httpx's "All connection attempts failed"


async def test_a_transport_failure_on_an_api_call_names_the_host() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.fail("GET", "*/crm/connectors", error=httpx.ConnectError)
    policy = RetryPolicy(max_attempts=1, sleep=time.sleep, clock=time.clock)
    async with fake.client(time, retry=policy) as client:
        with pytest.raises(TransportError) as caught:
            await client.list_connectors()
    assert "could not connect (127.0.0.1:8787; ConnectError: injected)" in str(caught.value)


async def test_using_the_client_outside_its_context_is_a_clear_error() -> None:
    client = CxoneClient(settings())
    with pytest.raises(RuntimeError, match="async with"):
        await client.list_connectors()
