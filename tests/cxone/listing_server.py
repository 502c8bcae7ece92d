"""A CXone stand-in on 127.0.0.1 whose connector listing never ends, for the listing bounds:
full pages of large, distinct connectors under a total that is huge, lies or is missing, or
the same page whatever `skip` says.

`ListingServer().base_url(mode)` is a CXONE_BASE_URL; `MODES` says what each mode sends.
Pages are built on demand (the server holds none), so the server stays small however much
a client reads; `pages_sent` counts what it served per mode.
"""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass, field
from typing import ClassVar, Final
from urllib.parse import parse_qs, urlsplit

from loopback import LoopbackServer

#: Seconds after which the server shuts itself down, whatever the test does.
LIFETIME: Final = 600.0
TOKEN: Final = "listing-server-token-0b1e"
#: Mappings per large connector: the schema's maximum, each one distinct, so nothing read
#: can be shared with another connector (the most memory per byte a server can make us hold).
MAPPINGS: Final = 500

MODES: Final = {
    "huge-total": "totalRecords 1,000,000 with full pages of large, distinct connectors",
    "lying-total": "totalRecords 40,000 (under the count bound), pages of large connectors",
    "ignore-skip": "totalRecords 40,000, and the same page of large connectors at every skip",
    "endless": "no totalRecords, and full pages of large, distinct connectors forever",
    "endless-small": "no totalRecords, and full pages of small, distinct connectors forever",
    "big-tenant": "45,000 small, distinct connectors, listed correctly (within the bounds)",
}
#: How many connectors `big-tenant` lists (90 % of the default CXONE_MAX_CONNECTORS).
BIG_TENANT: Final = 45_000


def connector(number: int, *, large: bool) -> dict[str, object]:
    """Connector `number`, every string in it its own."""
    doc: dict[str, object] = {
        "id": f"conn_{number:016x}",
        "name": f"Hostile-{number:09d}",
        "connectorType": "CUSTOM",
        "endpointUrl": f"https://crm-{number}.example/api",
        "authentication": {"type": "API_KEY", "credentials": {"apiKey": "***"}},
        "lifecycleStatus": "ACTIVE",
        "version": "1.0.0",
        "labels": {},
        "etag": f'"{number:032x}"',
        "createdTime": "2026-01-01T00:00:00Z",
        "lastModifiedTime": "2026-01-01T00:00:00Z",
        "mappings": [],
    }
    if large:
        doc["description"] = f"{number:09d} " + "d" * 1990
        doc["mappings"] = [
            {
                "cxoneField": f"contact.custom.f{number}_{j}",
                "crmField": f"F{number}_{j}__c",
                "direction": "INBOUND",
            }
            for j in range(MAPPINGS)
        ]
    return doc


#: Where a connector's number goes in its template (no JSON of ours holds this text).
_NUMBER: Final = 987_654_321


@functools.cache
def _template(large: bool) -> tuple[bytes, ...]:
    """A connector's JSON split where its number goes: pages are built by joining, far
    faster than encoding 50,000 mappings a page."""
    text = json.dumps(connector(_NUMBER, large=large), separators=(",", ":"))
    # The id and etag hold the number in hex; the rest in decimal.
    for form in (f"{_NUMBER:016x}", f"{_NUMBER:032x}"):
        text = text.replace(form, f"{_NUMBER}")
    return tuple(part.encode() for part in text.split(str(_NUMBER)))


def page(mode: str, skip: int, top: int) -> bytes:
    start = 0 if mode == "ignore-skip" else skip
    parts = _template(mode not in ("endless-small", "big-tenant"))
    count = max(0, min(top, BIG_TENANT - skip)) if mode == "big-tenant" else top
    items = [str(start + i).zfill(9).encode().join(parts) for i in range(count)]
    totals = {"huge-total": 1_000_000, "lying-total": 40_000, "ignore-skip": 40_000}
    total = totals.get(mode, BIG_TENANT if mode == "big-tenant" else None)
    tail = b"" if total is None else b',"totalRecords":' + str(total).encode()
    return b'{"items":[' + b",".join(items) + b"]" + tail + b"}"


@dataclass
class ListingServer(LoopbackServer):
    """Use as a context manager."""

    pages_sent: dict[str, int] = field(default_factory=dict)

    name: ClassVar[str] = "listing server"
    lifetime: ClassVar[float] = LIFETIME

    def base_url(self, mode: str) -> str:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        return f"http://127.0.0.1:{self.port}/{mode}/api/v2"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await self._exchange(reader, writer):
            pass

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        lines = head.decode("latin-1").split("\r\n")
        _, target, _ = lines[0].split(" ", 2)
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if length:
            await reader.readexactly(length)
        url = urlsplit(target)
        mode, _, rest = url.path.lstrip("/").partition("/")
        if rest.endswith("oauth/token"):
            token = {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600}
            body = json.dumps(token).encode()
        elif mode in MODES and rest.endswith("crm/connectors"):
            query = parse_qs(url.query)
            skip = int(query.get("skip", ["0"])[0])
            top = int(query.get("top", ["100"])[0])
            assert self._loop is not None
            body = await self._loop.run_in_executor(None, page, mode, skip, top)
            self.pages_sent[mode] = self.pages_sent.get(mode, 0) + 1
        else:
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return True
        head_out = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head_out.encode() + body)
        await writer.drain()
        return True
