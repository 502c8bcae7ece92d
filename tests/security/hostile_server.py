"""A CXone stand-in on 127.0.0.1 that answers like a hostile server: JSON nested past any
parser, bodies that trickle, flood or inflate, headers that echo our credentials back.

`HostileServer.base_url(mode)` is a CXONE_BASE_URL; the mode (see `MODES`) picks the
misbehaviour. Every answer is bounded in bytes and time, and the server stops by itself
after `LIFETIME` seconds even if a test never stops it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import zlib
from dataclasses import dataclass, field
from typing import ClassVar, Final, Self

from loopback import LoopbackServer

#: Seconds after which the server shuts itself down, whatever the test does.
LIFETIME: Final = 300.0
#: A body of nothing but `[`: far deeper than any JSON parser follows.
NESTED: Final = b"[" * 400_000
#: The trickle: a few bytes this often (well inside any per-read timeout) for at most
#: TRICKLE_FOR seconds, so a client without a total deadline would wait that long.
TRICKLE_EVERY: Final = 0.2
TRICKLE_FOR: Final = 60.0
#: The flood: chunked, this much in all (a client without a cap reads all of it).
FLOOD_BYTES: Final = 64 * 1024 * 1024
FLOOD_CHUNK: Final = b" " * (64 * 1024)
#: The gzip bomb inflates to this many zero bytes (about 130 KB on the wire).
BOMB_BYTES: Final = 128 * 1024 * 1024
#: The access token every non-hostile token answer hands out.
TOKEN: Final = "hostile-echo-token-4f9c2a7be1d3"

#: mode → what the server does wrong. A `-token` suffix moves the misbehaviour from
#: listing connectors to the token endpoint.
MODES: Final = {
    "nested-token": "the token endpoint answers 200 with 400 KB of '['",
    "nested-list": "listing connectors answers 200 with 400 KB of '['",
    "nested-error": "listing connectors answers 500 with 400 KB of '['",
    "trickle": "listing connectors answers 200, then a few bytes every 0.2 s for a minute",
    "trickle-token": "the token endpoint trickles its answer the same way",
    "flood": "listing connectors answers 200 with a 64 MiB chunked body",
    "flood-token": "the token endpoint floods the same way",
    "gzip-bomb": "listing connectors answers 200 with gzip inflating to 128 MiB",
    "gzip-bomb-token": "the token endpoint answers with the same bomb",
    "echo": "listing connectors answers 403, echoing Authorization in headers and body",
}


@functools.cache
def gzip_bomb(size: int = BOMB_BYTES) -> bytes:
    """`size` zero bytes, gzip-compressed without ever holding them (about 1000:1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1024 * 1024)
    parts = [
        compressor.compress(block[: min(len(block), size - done)])
        for done in range(0, size, len(block))
    ]
    parts.append(compressor.flush())
    return b"".join(parts)


@dataclass
class Seen:
    """One request as the server read it."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class HostileServer(LoopbackServer):
    """Use as a context manager; `requests` lists what it was sent, `sent` counts the body
    bytes it managed to write per mode (a client that hangs up early stops it)."""

    requests: list[Seen] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)

    name: ClassVar[str] = "hostile server"
    lifetime: ClassVar[float] = LIFETIME
    hung_up: ClassVar[tuple[type[BaseException], ...]] = (
        *LoopbackServer.hung_up,
        asyncio.LimitOverrunError,
    )

    def base_url(self, mode: str) -> str:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        return f"http://127.0.0.1:{self.port}/{mode}/api/v2"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]

    def __enter__(self) -> Self:
        gzip_bomb()  # built once, before the server runs and outside any test's timing
        return super().__enter__()

    # --- the server thread ---------------------------------------------------------------

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:  # keep-alive: the token and the API call may share one connection
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if length:
                await reader.readexactly(min(length, 1024 * 1024))
            path = target.split("?", 1)[0]
            self.requests.append(Seen(method, path, headers))
            if not await self._answer(path, headers, writer):
                return

    async def _answer(
        self, path: str, headers: dict[str, str], writer: asyncio.StreamWriter
    ) -> bool:
        """Write the answer; False when the connection must close after it."""
        mode, _, rest = path.lstrip("/").partition("/")
        is_token = rest.endswith("oauth/token")
        kind = mode.removesuffix("-token").removesuffix("-list")
        if mode not in MODES or mode.endswith("-token") != is_token:
            if is_token:
                body = {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600}
                await _send(writer, 200, json.dumps(body).encode())
            else:
                await _send(writer, 200, b'{"items": [], "totalRecords": 0}')
            return True
        if kind == "nested":
            await _send(writer, 200, NESTED)
        elif kind == "nested-error":
            await _send(writer, 500, NESTED)
        elif kind == "trickle":
            await self._trickle(mode, writer)
            return False
        elif kind == "flood":
            await self._flood(mode, writer)
            return False
        elif kind == "gzip-bomb":
            await _send(writer, 200, gzip_bomb(), {"Content-Encoding": "gzip"})
            self.sent[mode] = len(gzip_bomb())
        elif kind == "echo":
            said = headers.get("authorization", "")
            echoed = {
                "Authorization": said,
                "Proxy-Authorization": said,
                "Set-Cookie": f"session={said.removeprefix('Bearer ')}; Path=/",
            }
            body = {"error": "forbidden", "message": f"you sent Authorization: {said}"}
            await _send(writer, 403, json.dumps(body).encode(), echoed)
        return True

    async def _trickle(self, mode: str, writer: asyncio.StreamWriter) -> None:
        writer.write(_head(200, {"Content-Length": str(1024 * 1024)}))
        writer.write(b'{"items": [')
        assert self._loop is not None
        until = self._loop.time() + TRICKLE_FOR
        while self._loop.time() < until:
            await asyncio.sleep(TRICKLE_EVERY)
            writer.write(b"  ")
            await writer.drain()
            self.sent[mode] = self.sent.get(mode, 0) + 2

    async def _flood(self, mode: str, writer: asyncio.StreamWriter) -> None:
        writer.write(_head(200, {"Transfer-Encoding": "chunked"}))
        frame = f"{len(FLOOD_CHUNK):x}\r\n".encode() + FLOOD_CHUNK + b"\r\n"
        for _ in range(FLOOD_BYTES // len(FLOOD_CHUNK)):
            writer.write(frame)
            await writer.drain()
            self.sent[mode] = self.sent.get(mode, 0) + len(FLOOD_CHUNK)
        writer.write(b"0\r\n\r\n")
        await writer.drain()


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} Hostile", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _send(
    writer: asyncio.StreamWriter, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    writer.write(_head(status, {**(headers or {}), "Content-Length": str(len(body))}) + body)
    await writer.drain()
