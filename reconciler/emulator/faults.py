"""Fault injection: which request gets which fault (seeded), and how a connection is killed.

Faults are drawn from a `random.Random(seed)` in request order, or scripted one-shot through
`POST /_emulator/faults {"next": [...]}` for tests that need one exact failure.
"""

from __future__ import annotations

import asyncio
import fnmatch
import random
import socket
import struct
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from reconciler.emulator.config import FAULT_KINDS, Knobs
from reconciler.emulator.problem import Detail, bad_request

#: Where the uvicorn protocol (server.py) puts the connection's transport in the ASGI scope.
TRANSPORT_KEY: Final = "cxrecon.transport"
WRITE_METHODS: Final = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@dataclass(frozen=True, slots=True)
class ScriptedFault:
    """A fault for the next request matching `method` and the `path` glob."""

    kind: str
    method: str | None = None
    path: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path is None or fnmatch.fnmatchcase(path, self.path)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.method is not None:
            out["method"] = self.method
        if self.path is not None:
            out["path"] = self.path
        return out


def parse_script(items: Any) -> list[ScriptedFault]:
    if not isinstance(items, list):
        raise bad_request("next must be an array of {kind, method?, path?}", error="invalid_fault")
    out: list[ScriptedFault] = []
    for i, item in enumerate(items):
        where = f"/next/{i}"
        if not isinstance(item, dict) or set(item) - {"kind", "method", "path"}:
            raise bad_request(
                "each scripted fault is {kind, method?, path?}",
                [Detail(where, "unexpected shape")],
                error="invalid_fault",
            )
        kind, method, path = item.get("kind"), item.get("method", ""), item.get("path", "*")
        if kind not in FAULT_KINDS:
            raise bad_request(
                f"kind must be one of {', '.join(FAULT_KINDS)}",
                [Detail(f"{where}/kind", "unknown fault kind")],
                error="invalid_fault",
            )
        if not isinstance(method, str):
            raise bad_request(
                "method must be a string",
                [Detail(f"{where}/method", "not a string")],
                "invalid_fault",
            )
        if not isinstance(path, str):
            raise bad_request(
                "path must be a string (a glob)",
                [Detail(f"{where}/path", "not a string")],
                "invalid_fault",
            )
        out.append(ScriptedFault(kind, method.upper() or None, None if path == "*" else path))
    return out


class FaultInjector:
    """Decides, per API request, whether it fails and how; counts what it injected."""

    def __init__(self, knobs: Knobs) -> None:
        self.knobs = knobs
        self.injected: Counter[str] = Counter()
        self.script: list[ScriptedFault] = []
        self.reseed()

    def reseed(self) -> None:
        self._rng = random.Random(self.knobs.seed)
        self._jitter_rng = random.Random(self.knobs.seed + 1)
        self._burst_left = 0

    def reset(self) -> None:
        self.injected.clear()
        self.script.clear()
        self.reseed()

    def decide(self, method: str, path: str) -> str | None:
        kind = self._pick(method, path)
        if kind == "drop" and method not in WRITE_METHODS:
            kind = "reset"  # nothing to commit: a read can only lose its connection
        if kind is not None:
            self.injected[kind] += 1
        return kind

    def _pick(self, method: str, path: str) -> str | None:
        for i, fault in enumerate(self.script):
            if fault.matches(method, path):
                del self.script[i]
                return fault.kind
        if self._burst_left > 0:
            self._burst_left -= 1
            return "429"
        rate = self.knobs.fault_rate
        if rate <= 0 or self._rng.random() >= rate:
            return None
        kind = self._rng.choice(self.knobs.fault_kinds)
        if kind == "429":
            self._burst_left = self.knobs.burst_429_length - 1
        return kind

    def latency_s(self) -> float:
        """latency ± jitter for one response, in seconds (never negative)."""
        base: float = self.knobs.latency_ms
        jitter = self.knobs.jitter_ms
        if jitter:
            base += self._jitter_rng.uniform(-jitter, jitter)
        return max(0.0, base / 1000.0)


async def kill_connection(
    scope: Mapping[str, Any], receive: Any, reset: bool, message: str
) -> None:
    """End the connection with no response: FIN (`reset=False`) or RST (`reset=True`).

    Over uvicorn the transport is closed for real. In-process (httpx.ASGITransport) there is
    no socket, so the transport error httpx would have raised is raised instead.
    """
    transport: asyncio.Transport | None = scope.get("extensions", {}).get(TRANSPORT_KEY)
    if transport is None:
        if reset:
            raise httpx.ReadError(f"[Errno 104] Connection reset by peer ({message})")
        raise httpx.RemoteProtocolError(
            f"Server disconnected without sending a response. ({message})"
        )
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # Let the server notice the disconnect, so it does not try to answer for us.
    while (await receive())["type"] != "http.disconnect":
        pass
