"""A small in-memory CXone behind httpx.MockTransport, with scriptable failures, and fake time.

Unit tests use it for what the real emulator cannot be made to do: hostile answers, exact
fault sequences, and waits measured on a fake clock instead of the wall.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from reconciler.config.settings import ConnectionSettings
from reconciler.cxone.client import CxoneClient
from reconciler.cxone.pacing import AdaptivePacer
from reconciler.cxone.retry import RetryPolicy
from reconciler.secret import Secret

BASE = "http://127.0.0.1:8787/api/v2"
CANARY_SECRET = "canary-client-secret-7Hq2"
CANARY_PASSWORD = "canary-password-Zp91"
TOKEN_PREFIX = "canary-token-"


def settings(**changes: Any) -> ConnectionSettings:
    values: dict[str, Any] = {
        "base_url": BASE,
        "token_url": f"{BASE}/oauth/token",
        "client_id": "cxrecon-test",
        "client_secret": Secret(CANARY_SECRET),
    }
    values.update(changes)
    return ConnectionSettings(**values)


class FakeTime:
    """A clock that only moves when something sleeps; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def connector_body(connector_id: str, name: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": connector_id,
        "name": name,
        "lifecycleStatus": "DRAFT",
        "connectorType": "CUSTOM",
        "endpointUrl": "https://crm.example.com/api",
        "authentication": {"type": "API_KEY", "credentials": {"apiKey": "********"}},
        "mappings": [],
        "version": "1.0.0",
        "labels": {},
        "createdTime": "2024-01-01T00:00:00Z",
        "lastModifiedTime": "2024-01-01T00:00:00Z",
    }
    body.update(changes)
    return body


@dataclass
class Fault:
    """What the next matching request gets instead of (or after) normal handling."""

    method: str
    path: str  # glob on the URL path
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    error: type[httpx.TransportError] | None = None
    commit_first: bool = False  # handle the request for real, then lose the answer
    times: int = 1


class FakeCxone:
    """Connectors in a dict, tokens counted, faults scripted per method and path."""

    def __init__(self, *, token_ttl: int = 3600, honour_name_filter: bool = True) -> None:
        self.token_ttl = token_ttl
        self.honour_name_filter = honour_name_filter
        self.connectors: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, int] = {}
        self.idempotency: dict[str, str] = {}
        self.faults: list[Fault] = []
        self.requests: list[httpx.Request] = []
        self.token_requests: list[httpx.Request] = []
        self.valid_tokens: set[str] = set()
        self.override: Callable[[httpx.Request], httpx.Response | None] | None = None
        self._ids = 0

    # --- set-up ------------------------------------------------------------------

    def add(self, name: str, **changes: Any) -> dict[str, Any]:
        self._ids += 1
        connector_id = f"c{self._ids:06d}"
        self.connectors[connector_id] = connector_body(connector_id, name, **changes)
        self.versions[connector_id] = 1
        return self.connectors[connector_id]

    def fail(self, method: str, path: str, **kw: Any) -> None:
        self.faults.append(Fault(method, path, **kw))

    def revoke_tokens(self) -> None:
        self.valid_tokens.clear()

    def api_requests(self, method: str | None = None) -> list[httpx.Request]:
        return [
            r
            for r in self.requests
            if not r.url.path.endswith("/oauth/token") and method in (None, r.method)
        ]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def client(self, time: FakeTime, **kw: Any) -> CxoneClient:
        retry = kw.pop("retry", None) or RetryPolicy(
            rng=random.Random(7), sleep=time.sleep, clock=time.clock, wall_clock=time.wall
        )
        parallelism = kw.pop("parallelism", 8)
        pacer = AdaptivePacer(parallelism, clock=time.clock, sleep=time.sleep)
        return CxoneClient(
            kw.pop("settings", None) or settings(),
            parallelism=parallelism,
            retry=retry,
            transport=self.transport(),
            pacer=pacer,
            **kw,
        )

    # --- the server --------------------------------------------------------------

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        await asyncio.sleep(0)  # let concurrent requests interleave, as on a network
        if self.override is not None:
            answer = self.override(request)
            if answer is not None:
                return answer
        fault = self._take_fault(request)
        if fault is not None:
            if fault.commit_first:
                self._route(request)
            if fault.error is not None:
                raise fault.error("injected", request=request)
            return _json(fault.status or 500, fault.body, fault.headers)
        return self._route(request)

    def _take_fault(self, request: httpx.Request) -> Fault | None:
        for fault in self.faults:
            if fault.method == request.method and fnmatch.fnmatchcase(request.url.path, fault.path):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v2")
        if path == "/oauth/token":
            return self._token(request)
        if (
            request.headers.get("Authorization", "").removeprefix("Bearer ")
            not in self.valid_tokens
        ):
            return _json(401, {"error": "invalid_token", "message": "token expired"})
        parts = path.strip("/").split("/")
        if parts[:2] != ["crm", "connectors"]:
            return _json(404, {"error": "not_found", "message": path})
        if len(parts) == 2:
            return self._list(request) if request.method == "GET" else self._create(request)
        connector = self.connectors.get(parts[2])
        if connector is None:
            return _json(404, {"error": "not_found", "message": "no such connector"})
        if len(parts) == 3:
            return self._one(request, parts[2])
        if request.method == "POST":
            return _json(202, {"syncId": "s1"})
        return _json(200, {"syncId": parts[4], "status": "COMPLETED", "recordsProcessed": 3})

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.token_requests.append(request)
        value = f"{TOKEN_PREFIX}{len(self.token_requests)}"
        self.valid_tokens.add(value)
        body = {"access_token": value, "token_type": "Bearer", "expires_in": self.token_ttl}
        return _json(200, body)

    def _list(self, request: httpx.Request) -> httpx.Response:
        skip = int(request.url.params.get("skip", 0))
        top = int(request.url.params.get("top", 100))
        rows = list(self.connectors.values())
        name = request.url.params.get("name")
        if name is not None and self.honour_name_filter:
            rows = [r for r in rows if r["name"] == name]
        page = [dict(r, etag=self._etag(r["id"])) for r in rows[skip : skip + top]]
        return _json(200, {"items": page, "totalRecords": len(rows), "_links": {}})

    def _create(self, request: httpx.Request) -> httpx.Response:
        key = request.headers.get("Idempotency-Key", "")
        if key in self.idempotency:
            existing = self.idempotency[key]
            return self._answer(201, existing)
        created = self.add(**{k: v for k, v in json.loads(request.content).items() if k != "id"})
        self.idempotency[key] = created["id"]
        return self._answer(201, created["id"])

    def _one(self, request: httpx.Request, connector_id: str) -> httpx.Response:
        if request.method == "GET":
            return self._answer(200, connector_id)
        if_match = request.headers.get("If-Match")
        if if_match is None:
            return _json(428, {"error": "precondition_required", "message": "If-Match"})
        if if_match != self._etag(connector_id):
            return _json(412, {"error": "precondition_failed", "message": "stale ETag"})
        self.connectors[connector_id].update(json.loads(request.content))
        self.versions[connector_id] += 1
        return self._answer(200, connector_id)

    def _etag(self, connector_id: str) -> str:
        return f'"{connector_id}-v{self.versions[connector_id]}"'

    def _answer(self, status: int, connector_id: str) -> httpx.Response:
        headers = {"ETag": self._etag(connector_id)}
        return _json(status, self.connectors[connector_id], headers)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    content = b"" if body is None else json.dumps(body).encode()
    return httpx.Response(
        status, content=content, headers={"Content-Type": "application/json", **(headers or {})}
    )
