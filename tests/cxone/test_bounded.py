"""Answers are read within bounds: decoded size, total time, JSON depth; encodings inflated
in steps. Streamed bodies go through httpx.MockTransport, so no socket is needed here
(tests/security/test_hostile_server.py does the same over real ones)."""

from __future__ import annotations

import asyncio
import gzip
import json
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from reconciler.cxone.bounded import (
    ERROR_BODY_BYTES,
    MAX_JSON_DEPTH,
    ResponseLimits,
    TooDeep,
    describe_size,
    load_json,
)
from reconciler.cxone.client import CxoneClient
from reconciler.cxone.errors import (
    BODY_LIMIT,
    MalformedResponse,
    NotFound,
    ResponseTimeout,
    ResponseTooLarge,
)

from .fakes import FakeCxone, FakeTime, connector_body, settings

pytestmark = pytest.mark.anyio

PAGE = {"items": [connector_body("c000001", "a", etag='"e1"')], "totalRecords": 1}


class Chunks(httpx.AsyncByteStream):
    """A body that arrives piece by piece, as from a socket; counts what was taken."""

    def __init__(self, *chunks: bytes, then_wait: asyncio.Event | None = None) -> None:
        self.chunks = chunks
        self.taken = 0
        self.then_wait = then_wait

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.taken += 1
            yield chunk
        if self.then_wait is not None:
            await self.then_wait.wait()


def streamed(status: int, stream: Chunks, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, headers={"Content-Type": "application/json", **headers}, stream=stream
    )


def on_list(fake: FakeCxone, answer: httpx.Response) -> None:
    fake.override = lambda r: answer if r.url.path.endswith("/crm/connectors") else None


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def bytewise(data: bytes) -> tuple[bytes, ...]:
    return tuple(data[i : i + 1] for i in range(len(data)))


# --- JSON depth --------------------------------------------------------------------------


def test_json_up_to_the_depth_limit_is_read() -> None:
    assert load_json(nested(MAX_JSON_DEPTH)) is not None


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 400_000])
def test_json_nested_past_the_limit_is_too_deep_not_a_recursion_error(depth: int) -> None:
    with pytest.raises(TooDeep):
        load_json(nested(depth))


async def test_a_connector_nested_past_the_limit_is_malformed_before_it_reaches_the_planner() -> (
    None
):
    deep: Any = "leaf"
    for _ in range(MAX_JSON_DEPTH):
        deep = {"x": deep}
    page = {"items": [connector_body("c000001", "a", etag='"e1"', labels=deep)], "totalRecords": 1}
    fake, time = FakeCxone(), FakeTime()
    on_list(fake, httpx.Response(200, json=page))
    async with fake.client(time) as client:
        with pytest.raises(MalformedResponse, match=f"nests JSON deeper than {MAX_JSON_DEPTH}"):
            await client.list_connectors()


async def test_a_token_answer_nested_past_any_parser_is_malformed_and_names_the_host() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.override = lambda r: (
        httpx.Response(200, content=nested(400_000)) if r.url.path.endswith("/token") else None
    )
    async with fake.client(time) as client:
        with pytest.raises(MalformedResponse, match="token response nests JSON") as caught:
            await client.list_connectors()
    assert "on 127.0.0.1:8787" in str(caught.value)
    assert len([r for r in fake.requests if r.url.path.endswith("/token")]) == 1


# --- encodings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send
        ("identity", lambda data: data),
    ],
    ids=["gzip", "deflate", "raw-deflate", "identity"],
)
async def test_an_encoded_answer_is_inflated_even_a_byte_at_a_time(
    encoding: str, encode: Any
) -> None:
    fake, time = FakeCxone(), FakeTime()
    body = encode(json.dumps(PAGE).encode())
    on_list(fake, streamed(200, Chunks(*bytewise(body)), **{"Content-Encoding": encoding}))
    async with fake.client(time) as client:
        listed = await client.list_connectors()
    assert [c.name for c in listed] == ["a"]
    assert {r.headers["Accept-Encoding"] for r in fake.requests} == {"gzip, deflate"}


async def test_an_encoding_cxrecon_did_not_ask_for_is_refused() -> None:
    fake, time = FakeCxone(), FakeTime()
    on_list(fake, streamed(200, Chunks(b"\x1b\x00"), **{"Content-Encoding": "br"}))
    async with fake.client(time) as client:
        with pytest.raises(MalformedResponse, match="encoded as 'br', which cxrecon did not"):
            await client.list_connectors()


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (gzip.compress(json.dumps(PAGE).encode())[:-12], "it ends early"),
        (gzip.compress(b"")[:10] + b"\xff\xff\xff\xff", "invalid"),
    ],
    ids=["truncated", "corrupt"],
)
async def test_a_broken_gzip_answer_is_malformed_not_retried(body: bytes, why: str) -> None:
    fake, time = FakeCxone(), FakeTime()
    on_list(fake, streamed(200, Chunks(body), **{"Content-Encoding": "gzip"}))
    async with fake.client(time) as client:
        with pytest.raises(MalformedResponse, match=f"is not valid gzip \\(.*{why}"):
            await client.list_connectors()
    assert len(fake.api_requests()) == 1


# --- size --------------------------------------------------------------------------------


async def test_an_answer_past_the_cap_is_refused_once_the_cap_is_passed() -> None:
    fake, time = FakeCxone(), FakeTime()
    stream = Chunks(*([b" " * 1024] * 100))
    on_list(fake, streamed(200, stream))
    limits = ResponseLimits(max_bytes=10 * 1024)
    async with fake.client(time, response_limits=limits) as client:
        with pytest.raises(ResponseTooLarge, match="more than 10 KiB once decoded") as caught:
            await client.list_connectors()
    assert stream.taken == 11
    assert len(fake.api_requests()) == 1  # not retried
    assert caught.value.status == 200
    assert client.stats.snapshot().get("list_connectors").errors == {"ResponseTooLarge": 1}


async def test_an_answer_declared_larger_than_the_cap_is_refused_unread() -> None:
    fake, time = FakeCxone(), FakeTime()
    stream = Chunks(b" " * 100)
    on_list(fake, streamed(200, stream, **{"Content-Length": str(10**9)}))
    async with fake.client(time, response_limits=ResponseLimits(max_bytes=1000)) as client:
        with pytest.raises(ResponseTooLarge, match="more than 1000 bytes"):
            await client.list_connectors()
    assert stream.taken == 0


async def test_the_cap_counts_decoded_bytes() -> None:
    fake, time = FakeCxone(), FakeTime()
    bomb = gzip.compress(bytes(4 * 1024 * 1024))
    assert len(bomb) < 64 * 1024
    on_list(fake, streamed(200, Chunks(bomb), **{"Content-Encoding": "gzip"}))
    async with fake.client(time, response_limits=ResponseLimits(max_bytes=1024 * 1024)) as client:
        with pytest.raises(ResponseTooLarge, match="more than 1 MiB"):
            await client.list_connectors()


async def test_an_oversized_error_body_is_cut_and_the_status_error_stands() -> None:
    fake, time = FakeCxone(), FakeTime()
    stream = Chunks(b'{"error": "not_found", "message": "' + b"x" * 1024, *([b"x" * 1024] * 1000))
    on_list(fake, streamed(404, stream))
    async with fake.client(time) as client:
        with pytest.raises(NotFound, match="HTTP 404"):
            await client.list_connectors()
    assert stream.taken <= ERROR_BODY_BYTES // 1024 + 1  # then it stopped reading


async def test_a_large_answer_that_is_not_json_is_quoted_from_its_start_only() -> None:
    fake, time = FakeCxone(), FakeTime()
    body = bytes(8 * 1024 * 1024)  # under the cap; every byte a control character to escape
    on_list(fake, httpx.Response(200, content=body))
    tracemalloc.start()
    try:
        async with fake.client(time) as client:
            with pytest.raises(MalformedResponse, match="is not JSON") as caught:
                await client.list_connectors()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.body.startswith("\\x00\\x00")
    assert len(caught.value.body) <= BODY_LIMIT
    assert peak < 4 * len(body), f"peak {peak / len(body):.1f}x the body"


# --- time --------------------------------------------------------------------------------


async def test_a_write_whose_answer_outlasts_the_deadline_is_not_sent_again() -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("a")
    never = asyncio.Event()
    fake.override = lambda r: (
        streamed(200, Chunks(b"{", then_wait=never)) if r.method == "PATCH" else None
    )
    async with fake.client(time, response_limits=ResponseLimits(deadline=0.05)) as client:
        with pytest.raises(ResponseTimeout) as caught:
            await client.patch_connector("c000001", etag='"c000001-v1"', body={"description": "x"})
    message = str(caught.value)
    assert "did not arrive within 0.05 s; the server may have acted on the request" in message
    assert "PATCH /crm/connectors/c000001 on 127.0.0.1:8787 → HTTP 200" in message
    assert len(fake.api_requests("PATCH")) == 1


@pytest.mark.parametrize(("timeout", "deadline"), [(10.0, 60.0), (45.0, 90.0)])
def test_the_default_deadline_outlasts_two_reads_at_the_configured_timeout(
    timeout: float, deadline: float
) -> None:
    client = CxoneClient(settings(timeout=timeout))
    assert client.response_limits == ResponseLimits(max_bytes=64 * 1024 * 1024, deadline=deadline)


@pytest.mark.parametrize(
    "limits", [{"max_bytes": 0}, {"deadline": 0.0}, {"deadline": float("nan")}]
)
def test_limits_must_be_positive(limits: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"max_bytes|deadline"):
        ResponseLimits(**limits)


@pytest.mark.parametrize(
    ("size", "shown"),
    [(64 * 1024 * 1024, "64 MiB"), (512 * 1024, "512 KiB"), (1000, "1000 bytes")],
)
def test_sizes_are_shown_in_the_unit_they_were_set_in(size: int, shown: str) -> None:
    assert describe_size(size) == shown
