"""Reading an answer from a server we do not trust, within bounds: its size once decoded,
the time the whole of it takes to arrive, and how deeply its JSON nests.

Every request (the token's included) goes through `receive`, which streams the body and
stops at `ResponseLimits.max_bytes` *decoded* bytes (gzip and deflate are inflated here, at
most `_STEP` bytes at a time, so a 4 MB bomb never becomes 4 GiB in memory) and gives up when
the whole exchange outlasts `ResponseLimits.deadline` (a body trickled a byte at a time
never trips the per-read timeout). Neither is retried: a server that trickled or flooded
once will do it again, and a retry would only double the wait or the traffic. A slow answer
is a `ResponseTimeout` (a `TransportError`, so apply re-reads before deciding anything); an
oversized one is a `ResponseTooLarge` (a `MalformedResponse`). Other failures are retried
as before, so one call takes at most the retry deadline plus one response deadline. Error
bodies are only quoted, so they are read to `ERROR_BODY_BYTES` and cut there, not refused.
Answers that must fit together (a listing's pages) also share one `SharedCap`, whose own
error (the caller's, naming its setting) passes through unchanged.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Final, Protocol

import httpx

from reconciler.cxone.errors import (
    MalformedResponse,
    ResponseTimeout,
    ResponseTooLarge,
    host_of,
)

MiB: Final = 1024 * 1024
#: Enough for a page of 10,000 connectors with every field filled in.
DEFAULT_MAX_BYTES: Final = 64 * MiB
#: For the whole exchange, first byte sent to last byte read; a healthy answer takes < 1 s.
DEFAULT_DEADLINE: Final = 60.0
#: An error body is quoted in 500 characters at most; nothing past this is read.
ERROR_BODY_BYTES: Final = 64 * 1024
#: No answer of this API nests deeper than ~6 levels; deeper would only feed recursion later.
MAX_JSON_DEPTH: Final = 64
#: The encodings `receive` inflates itself (so never httpx's default, which may add br/zstd).
ACCEPT_ENCODING: Final = "gzip, deflate"
#: Most bytes one inflate step produces (deflate expands up to ~1032:1 per input byte).
_STEP: Final = 64 * 1024
#: Headers that describe the body as sent, not the decoded body `receive` hands on.
_WIRE_HEADERS: Final = frozenset({b"content-encoding", b"content-length", b"transfer-encoding"})


@dataclass(frozen=True)
class ResponseLimits:
    """How much of one answer is read, and how long all of it may take to arrive."""

    max_bytes: int = DEFAULT_MAX_BYTES
    deadline: float = DEFAULT_DEADLINE

    def __post_init__(self) -> None:
        if self.max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        if not self.deadline > 0:
            raise ValueError("deadline must be > 0 seconds")


class SharedCap:
    """A byte cap that several answers share (the pages of one listing): each decoded chunk
    is charged as it arrives, so pages read at once cannot pass it together either, and no
    one answer may take more than `per_answer`. Once passed it stays passed; `exceeded`
    (told whether one answer alone passed `per_answer`) makes the error raised."""

    def __init__(
        self, limit: int, exceeded: Callable[[bool], Exception], per_answer: int | None = None
    ) -> None:
        if limit < 1:
            raise ValueError("a shared cap must be at least 1 byte")
        self.limit = limit
        self.per_answer = limit if per_answer is None else max(1, min(per_answer, limit))
        self.used = 0
        self.tripped = False
        self._exceeded = exceeded

    def charge(self, size: int, answer_so_far: int = 0) -> None:
        """Charge `size` more bytes, `answer_so_far` of which (these included) belong to
        the answer being read."""
        self.used += size
        if answer_so_far > self.per_answer:
            self.tripped = True
            raise self._exceeded(True)
        if self.tripped or self.used > self.limit:
            self.tripped = True
            raise self._exceeded(False)

    def check(self, size: int) -> None:
        """Raise now if an answer of `size` bytes would pass the cap (a declared length)."""
        if self.used + size > self.limit or size > self.per_answer:
            self.charge(size, size)

    def refund(self, size: int) -> None:
        """Give back what an answer that was not kept (a failed attempt) had taken."""
        if not self.tripped:
            self.used = max(0, self.used - size)


class TooDeep(ValueError):
    """JSON nested deeper than MAX_JSON_DEPTH (or than the parser can follow)."""


def load_json(content: bytes) -> Any:
    """`json.loads`, with nesting past MAX_JSON_DEPTH refused as `TooDeep` (a ValueError)
    instead of a RecursionError here, or in whatever walks the value later."""
    try:
        data = json.loads(content)
    except RecursionError:
        raise TooDeep(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    if _nesting_exceeds(data, MAX_JSON_DEPTH):
        raise TooDeep(f"nested deeper than {MAX_JSON_DEPTH} levels")
    return data


def _nesting_exceeds(data: Any, limit: int) -> bool:
    """Whether any array or object sits more than `limit` levels deep. Recursive, but at
    most `limit` (64) calls deep; on what json.loads made, so exact types suffice. Four
    times faster than walking an explicit stack: this runs on every page listed."""
    kind = type(data)
    if kind is dict:
        children: Any = data.values()
    elif kind is list:
        children = data
    else:
        return False
    if limit <= 0:
        return True
    for child in children:
        kind = type(child)
        if (kind is dict or kind is list) and _nesting_exceeds(child, limit - 1):
            return True
    return False


def describe_size(size: int) -> str:
    """`64 MiB`, `512 KiB` or `1000 bytes`, for messages."""
    for unit, name in ((MiB, "MiB"), (1024, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} bytes"


class _Inflater(Protocol):
    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...

    @property
    def unconsumed_tail(self) -> bytes: ...

    @property
    def eof(self) -> bool: ...


class _Decoder:
    """Undoes one Content-Encoding in bounded steps. Deflate is zlib-wrapped per RFC 9110,
    but some servers send it raw; its first two bytes tell which."""

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._head = b""  # deflate's first bytes, until there are two to look at
        self._fed = False
        self._inflater: _Inflater | None = None
        if encoding in ("gzip", "x-gzip"):
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not data:
            return
        self._fed = True
        if self._encoding == "identity":
            yield data
            return
        if self._inflater is None:
            self._head += data
            if len(self._head) < 2:
                return
            data, self._head = self._head, b""
            cmf, flg = data[0], data[1]
            wrapped = cmf & 0x0F == 8 and (cmf << 8 | flg) % 31 == 0
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        inflater = self._inflater
        while True:
            out = inflater.decompress(data, _STEP)
            if out:
                yield out
            data = inflater.unconsumed_tail
            if not data and len(out) < _STEP:
                return

    def finish(self) -> None:
        """Raise zlib.error when the body ended before its compressed stream did."""
        if self._encoding == "identity" or not self._fed:
            return
        if self._inflater is None or not self._inflater.eof:
            raise zlib.error("it ends early")


class _Breach(Exception):
    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind)
        self.kind = kind
        self.detail = detail


async def receive(
    http: httpx.AsyncClient,
    request: httpx.Request,
    limits: ResponseLimits,
    *,
    operation: str,
    path: str,
    attempt: int,
    may_have_landed: bool = False,
    auth: httpx.Auth | None = None,
    shared: SharedCap | None = None,
) -> httpx.Response:
    """Send `request` and read its whole answer within `limits` (and, for a success, within
    what is left of `shared`, whose error passes through); the returned response holds the
    decoded body. httpx transport errors pass through for the caller's retry rules."""
    host = host_of(str(request.url))
    status: int | None = None

    def error_args() -> dict[str, Any]:
        return {
            "operation": operation,
            "method": request.method,
            "path": path,
            "status": status,
            "attempts": attempt,
            "host": host,
        }

    landed = "; the server may have acted on the request" if may_have_landed else ""
    deadline = asyncio.timeout(limits.deadline)
    try:
        async with deadline:
            response = await http.send(request, stream=True, auth=auth)
            status = response.status_code
            try:
                body = await _read(response, limits.max_bytes, shared)
            finally:
                await response.aclose()
    except TimeoutError:
        if not deadline.expired():
            raise
        raise ResponseTimeout(
            f"the whole answer did not arrive within {limits.deadline:g} s{landed}",
            **error_args(),
        ) from None
    except _Breach as breach:
        if breach.kind == "too large":
            raise ResponseTooLarge(
                f"the answer was more than {describe_size(limits.max_bytes)} once decoded, "
                f"so cxrecon stopped reading it{landed}",
                **error_args(),
            ) from None
        raise MalformedResponse(f"the answer {breach.detail}{landed}", **error_args()) from None
    # The raw bytes, never decoded and encoded again: a proxy's `X-Trace: café` made the
    # round trip through str fail (httpx encodes str headers as ASCII). Readers decode the
    # few headers they use through httpx, which falls back to Latin-1 and never fails.
    headers = [(k, v) for k, v in response.headers.raw if k.lower() not in _WIRE_HEADERS]
    return httpx.Response(status, headers=headers, content=bytes(body), request=request)


async def _read(
    response: httpx.Response, max_bytes: int, shared: SharedCap | None = None
) -> bytearray:
    """The decoded body: a success past `max_bytes` is a breach, and each of its chunks is
    charged to `shared`; an error body is only quoted, so it is cut at ERROR_BODY_BYTES."""
    if not response.is_success:
        max_bytes, shared = ERROR_BODY_BYTES, None
    elif _declared_length(response) > max_bytes:
        raise _Breach("too large")  # said so up front: not a byte of it is read
    body = bytearray()
    try:
        if shared is not None:
            shared.check(_declared_length(response))  # said up front, refused up front
        async with aclosing(_decoded(response)) as chunks:
            async for chunk in chunks:
                if len(body) + len(chunk) > max_bytes:
                    if response.is_success:
                        raise _Breach("too large")
                    body += chunk[: max_bytes - len(body)]
                    break
                body += chunk
                if shared is not None:
                    shared.charge(len(chunk), len(body))
    except BaseException:
        if shared is not None:
            shared.refund(len(body))  # this answer is not kept (the cap's own error aside)
        raise
    return body


def _declared_length(response: httpx.Response) -> int:
    if response.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
        return 0  # the length on the wire says nothing about the decoded size
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isascii() and value.isdigit() else 0


async def _decoded(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    """The body's decoded bytes, in steps of at most `_STEP` (plus one network read when
    the body is not encoded)."""
    try:
        # Already read (a mock or in-memory transport): httpx has decoded it.
        content = response.content
    except httpx.ResponseNotRead:
        pass
    else:
        for start in range(0, len(content), _STEP):
            yield content[start : start + _STEP]
        return
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower() or "identity"
    if encoding not in ("identity", "gzip", "x-gzip", "deflate"):
        raise _Breach("encoding", f"is encoded as {encoding!r}, which cxrecon did not ask for")
    decoder = _Decoder(encoding)
    try:
        async for raw in response.aiter_raw():
            for chunk in decoder.feed(raw):
                yield chunk
        decoder.finish()
    except zlib.error as exc:
        raise _Breach("encoding", f"is not valid {encoding} ({exc})") from None
