"""The API gateway in front of the routes, as raw ASGI (no per-request middleware objects).

In order: request stats, bearer auth and scopes, the per-client rate limit (headers on every
API response), injected latency, then injected faults. Admin routes get no auth, but their
writes must come from a client on this machine, not a web page (see `guard`).

Every route's body is size-limited here, while it streams in: a declared Content-Length over
the limit is answered 413 before anything is read, and a chunked body stops being read (413,
then the connection closes) at the first chunk that passes the limit. The limit is
`max_body_bytes`, or `TOKEN_BODY_MAX` for the unauthenticated token endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.emulator.auth import insufficient_scope
from reconciler.emulator.config import READ_SCOPE, TOKEN_BODY_MAX, WRITE_SCOPE
from reconciler.emulator.faults import kill_connection
from reconciler.emulator.guard import ADMIN_PREFIX, admin_write_problem, header
from reconciler.emulator.problem import ApiProblem
from reconciler.emulator.request_checks import too_large
from reconciler.emulator.runtime import Runtime

API_PREFIX: Final = "/api/v2"
TOKEN_PATH: Final = API_PREFIX + "/oauth/token"
OPENAPI_PATH: Final = API_PREFIX + "/openapi.yaml"
PRINCIPAL_KEY: Final = "cxrecon.principal"
READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


def route_template(path: str) -> str:
    """/api/v2/crm/connectors/conn_1/sync/sync_2 → /api/v2/crm/connectors/{id}/sync/{syncId}."""
    parts = path.split("/")
    if path.startswith("/api/v2/crm/connectors/") and len(parts) >= 6:
        parts[5] = "{id}"
        if len(parts) >= 8 and parts[6] == "sync":
            parts[7] = "{syncId}"
    elif path.startswith("/_emulator/connectors/") and len(parts) >= 4:
        parts[3] = "{id}"
    return "/".join(parts)


class Gateway:
    def __init__(
        self, app: ASGIApp, runtime: Runtime, routes: Mapping[str, frozenset[str]]
    ) -> None:
        self.app = app
        self.runtime = runtime
        # Route template → its methods. Stats are keyed by route template; anything else
        # shares one key, so random paths (a fuzzer, a scanner) cannot grow the counters
        # without bound.
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            path: str = scope["path"]
            limit = TOKEN_BODY_MAX if path == TOKEN_PATH else self.runtime.config.max_body_bytes
            if _declared_length(scope) > limit:
                await too_large(limit).response()(scope, receive, counted)
            elif path.startswith(API_PREFIX + "/") and path != OPENAPI_PATH:
                self.runtime.stats.enter()
                try:
                    await self._api(scope, receive, counted, limit)
                finally:
                    self.runtime.stats.leave()
            elif path.startswith(ADMIN_PREFIX) and (
                refused := admin_write_problem(
                    scope,
                    self.runtime.config.admin_hosts,
                    # A method the route lacks is left to routing (405), not answered 415.
                    routed=scope["method"] in self.routes.get(route_template(path), ()),
                )
            ):
                await refused.response()(scope, receive, counted)
            else:
                await self.app(scope, _limited(receive, limit), counted)
        finally:
            template = route_template(scope["path"])
            if template not in self.routes:
                template = "(unmatched)"
            key = (f"{scope['method']} {template}", status)
            self.runtime.stats.requests[key] += 1

    async def _api(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        runtime = self.runtime
        method: str = scope["method"]
        path: str = scope["path"]
        # The token endpoint stands for CXone's separate auth service: it has no per-client
        # bucket (there is no client before the token), but it does get faults.
        limit_key: str | None = None
        if path != TOKEN_PATH:
            try:
                principal = runtime.tokens.verify(header(scope, b"authorization"))
            except ApiProblem as problem:
                await problem.response()(scope, receive, send)
                return
            needed = READ_SCOPE if method in READ_METHODS else WRITE_SCOPE
            if needed not in principal.scopes:
                await insufficient_scope(needed).response()(scope, receive, send)
                return
            scope[PRINCIPAL_KEY] = principal
            limit_key = principal.client_id

        extra: list[tuple[bytes, bytes]] = []
        if limit_key is not None and runtime.limiter.enabled:
            decision = runtime.limiter.take(limit_key)
            extra = decision.headers()
            if not decision.allowed:
                runtime.stats.rate_limited += 1
                limited = ApiProblem(
                    429,
                    "rate_limited",
                    f"rate limit of {runtime.knobs.rate_limit:g} requests/s exceeded; "
                    f"retry after {decision.retry_after_s}s",
                )
                await limited.response()(scope, receive, _with_headers(send, extra))
                return

        fault = runtime.faults.decide(method, path)
        delay = runtime.faults.latency_s()
        if delay:
            await asyncio.sleep(delay)
        send = _with_headers(send, extra) if extra else send
        app_receive = _limited(receive, limit)
        if fault is None:
            await self.app(scope, app_receive, send)
        elif fault in ("500", "502", "503", "429"):
            await self._status_fault(int(fault), extra).response()(scope, receive, send)
        elif fault == "reset":
            await kill_connection(scope, receive, reset=True, message="injected fault: reset")
        elif fault == "drop":
            await self._commit_then_drop(scope, receive, app_receive)
        else:  # slow: handled (and committed) now, answered after slow_ms
            await self.app(scope, app_receive, _delayed(send, runtime.knobs.slow_ms / 1000.0))

    def _status_fault(self, status: int, extra: list[tuple[bytes, bytes]]) -> ApiProblem:
        retry_after = str(self.runtime.knobs.fault_retry_after_s)
        headers = {"Retry-After": retry_after} if status in (429, 503) else {}
        if status == 429 and not extra:
            headers["X-RateLimit-Remaining"] = "0"
        error, message = {
            500: ("internal_error", "injected fault: internal server error"),
            502: ("bad_gateway", "injected fault: bad gateway"),
            503: ("service_unavailable", "injected fault: service unavailable, retry later"),
            429: ("rate_limited", "injected fault: too many requests, retry later"),
        }[status]
        return ApiProblem(status, error, message, (), headers)

    async def _commit_then_drop(self, scope: Scope, receive: Receive, app_receive: Receive) -> None:
        async def swallow(message: Message) -> None:
            return None

        await self.app(scope, app_receive, swallow)
        await kill_connection(scope, receive, reset=False, message="injected fault: drop")


def _declared_length(scope: Scope) -> int:
    declared = header(scope, b"content-length")
    return int(declared) if declared is not None and declared.strip().isdigit() else 0


def _limited(receive: Receive, limit: int) -> Receive:
    """`receive` that counts body bytes and raises 413 at the first chunk over `limit`, so
    no route ever holds more than `limit` plus one chunk of a body."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise too_large(limit)
        return message

    return wrapped


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


def _delayed(send: Send, seconds: float) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            await asyncio.sleep(seconds)
        await send(message)

    return wrapped
