"""A reverse proxy on 127.0.0.1 in front of the emulator that bends its answers as proxies in
the field do: non-ASCII header bytes, weak ETags, ETags dropped from write answers.

`BendingProxy(upstream_root).base_url(bend)` is a CXONE_BASE_URL whose every answer (token,
discovery document, listing, GET, POST, PATCH) comes from the emulator bent by `bend` (see
`BENDS`). Answers are written byte for byte, so a header may carry any byte at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import ClassVar, Final

import httpx
from loopback import LoopbackServer

#: Seconds after which the proxy shuts itself down, whatever the test does.
LIFETIME: Final = 300.0
#: What `non-ascii` adds to every answer: UTF-8 (as `X-Trace: café` from a tracing proxy)
#: and bytes that are not UTF-8 at all.
NON_ASCII_HEADERS: Final = (
    (b"X-Trace", "café".encode()),
    (b"X-Proxy-Note", b"\xff\xfe r\xe9seau \x80"),
)

BENDS: Final = {
    "clean": "passes every answer on as the emulator sent it",
    "non-ascii": "adds headers holding non-ASCII bytes (UTF-8 and not) to every answer",
    "weak-etag": 'turns every ETag header into a weak one, W/"…" (as a compressing proxy)',
    "weak-server": "weakens the ETag header and the body's etag field (a server whose ETags are)",
    "drop-write-etag": "removes the ETag (header and body field) from POST and PATCH answers",
    "empty-write-body": "answers a connector POST or PATCH that succeeded with its status only",
}
#: Hop-by-hop headers and those the proxy sets itself.
_NOT_FORWARDED: Final = frozenset(
    {"host", "connection", "keep-alive", "content-length", "transfer-encoding", "accept-encoding"}
)
_NOT_RETURNED: Final = frozenset(
    {"connection", "keep-alive", "content-length", "transfer-encoding", "content-encoding"}
)


@dataclass(frozen=True)
class Passed:
    """One request the proxy passed on, and the status it answered with."""

    bend: str
    method: str
    path: str
    status: int


@dataclass
class BendingProxy(LoopbackServer):
    """Use as a context manager around a running emulator's root URL."""

    upstream: str
    #: Called (on a worker thread) once a connector write has reached the emulator and
    #: before its answer goes back: another writer acting right after ours.
    after_write: Callable[[Passed], None] | None = None
    passed: list[Passed] = field(default_factory=list)
    _upstream: httpx.AsyncClient | None = None

    name: ClassVar[str] = "bending proxy"
    lifetime: ClassVar[float] = LIFETIME

    def root_url(self, bend: str) -> str:
        if bend not in BENDS:
            raise ValueError(f"unknown bend {bend!r}")
        return f"http://127.0.0.1:{self.port}/{bend}"

    def base_url(self, bend: str) -> str:
        return self.root_url(bend) + "/api/v2"

    def writes(self, bend: str) -> list[Passed]:
        """POSTs and PATCHes of connectors (not the token's POST) passed on for `bend`."""
        return [
            p
            for p in self.passed
            if p.bend == bend and p.method in ("POST", "PATCH") and "/crm/connectors" in p.path
        ]

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        async with httpx.AsyncClient(base_url=self.upstream, timeout=30) as upstream:
            self._upstream = upstream
            yield

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._upstream is not None
        while await self._exchange(self._upstream, reader, writer):
            pass

    async def _exchange(
        self,
        upstream: httpx.AsyncClient,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Pass one request on and write its bent answer; False at the end of the stream."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers: list[tuple[str, str]] = []
        length = 0
        for line in lines[1:]:
            if ":" not in line:
                continue
            name, value = (part.strip() for part in line.split(":", 1))
            if name.lower() == "content-length":
                length = int(value)
            if name.lower() not in _NOT_FORWARDED:
                headers.append((name, value))
        body = await reader.readexactly(length) if length else b""
        bend, _, rest = target.lstrip("/").partition("/")
        if bend not in BENDS:
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return True
        answer = await upstream.request(method, "/" + rest, headers=headers, content=body or None)
        passed = Passed(bend, method, "/" + rest.split("?", 1)[0], answer.status_code)
        self.passed.append(passed)
        is_write = method in ("POST", "PATCH") and "/crm/connectors" in passed.path
        if is_write and self.after_write is not None:
            await asyncio.to_thread(self.after_write, passed)
        writer.write(self._bent(bend, method, answer))
        await writer.drain()
        return True

    def _bent(self, bend: str, method: str, answer: httpx.Response) -> bytes:
        """The answer as bytes on the wire, bent by `bend`."""
        mine = self.root_url(bend)
        content = answer.content.replace(self.upstream.encode(), mine.encode())
        out: list[tuple[bytes, bytes]] = []
        for name, value in answer.headers.raw:
            if name.decode("latin-1").lower() in _NOT_RETURNED:
                continue
            value = value.replace(self.upstream.encode(), mine.encode())
            if name.lower() == b"etag":
                if bend in ("weak-etag", "weak-server"):
                    value = b"W/" + value
                elif bend == "drop-write-etag" and method in ("POST", "PATCH"):
                    continue
            out.append((name, value))
        if bend == "non-ascii":
            out.extend(NON_ASCII_HEADERS)
        if bend == "drop-write-etag" and method in ("POST", "PATCH"):
            content = _rewrite_etags(content, lambda etag: None)
        elif bend == "weak-server":
            content = _rewrite_etags(content, lambda etag: "W/" + etag)
        elif bend == "empty-write-body" and _a_landed_write(method, answer):
            # A gateway that keeps the status and drops the body (and what describes it).
            content = b""
            out = [(n, v) for n, v in out if n.lower() not in (b"etag", b"content-type")]
        status = f"HTTP/1.1 {answer.status_code} {answer.reason_phrase}\r\n".encode("latin-1")
        head = b"".join(name + b": " + value + b"\r\n" for name, value in out)
        return status + head + f"Content-Length: {len(content)}\r\n\r\n".encode() + content


def _rewrite_etags(content: bytes, change: Callable[[str], str | None]) -> bytes:
    """`content` with the `etag` field of the connector (or of each listed one) changed,
    or removed where `change` gives None."""
    try:
        data = json.loads(content)
    except ValueError:
        return content
    if not isinstance(data, dict):
        return content
    items = data.get("items")
    for item in items if isinstance(items, list) else [data]:
        if isinstance(item, dict) and isinstance(item.get("etag"), str):
            changed = change(item.pop("etag"))
            if changed is not None:
                item["etag"] = changed
    return json.dumps(data).encode()


def _a_landed_write(method: str, answer: httpx.Response) -> bool:
    path = answer.request.url.path
    return method in ("POST", "PATCH") and "/crm/connectors" in path and answer.is_success
