"""One API call end to end: token, pacing, send, retry when safe, map failures to typed errors.

The client's endpoint methods describe a call as a `Request` and say how to parse the
answer; everything about getting that answer reliably lives here.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from reconciler.cxone.auth import TokenProvider
from reconciler.cxone.bounded import ResponseLimits, SharedCap, receive
from reconciler.cxone.errors import (
    AuthError,
    Conflict,
    CxoneApiError,
    ListingTooLarge,
    MalformedResponse,
    NotFound,
    ResponseTimeout,
    TransportError,
    error_for_status,
    failure_reason,
    host_of,
    scrub,
    server_message,
    summary_for_status,
)
from reconciler.cxone.pacing import AdaptivePacer
from reconciler.cxone.parse import Origin
from reconciler.cxone.retry import (
    Delivery,
    Replay,
    RetryBudget,
    RetryPolicy,
    delivery_of,
    may_retry,
    status_delivery,
)
from reconciler.cxone.stats import ApiStats
from reconciler.secret import Secret

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Request:
    """One API call as the endpoint methods describe it."""

    operation: str
    method: str
    path: str  # under the base URL; every id in it has passed parse.check_id
    replay: Replay
    params: Mapping[str, str | int] = field(default_factory=dict)
    #: Not in the repr: a create or credentials PATCH carries resolved secret values.
    body: Mapping[str, Any] | None = field(default=None, repr=False)
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Values we sent that must never come back in an error (e.g. CRM credentials).
    secrets: tuple[str, ...] = field(default=(), repr=False)
    #: What a 404 means here when not "that connector is gone" (e.g. a wrong base URL).
    not_found_hint: str | None = None
    #: A byte cap this answer shares with others (a listing's pages), its error not retried.
    shared_cap: SharedCap | None = field(default=None, compare=False)


@dataclass
class _SoFar:
    """What one call's earlier attempts showed."""

    #: The token was refreshed once after a 401.
    refreshed: bool = False
    #: An attempt may have reached the server (its answer was lost, or a gateway 5xx).
    maybe_landed: bool = False


class Session:
    """Sends `Request`s for one run. Shares the token, the pacer and the stats."""

    def __init__(
        self,
        base_url: str,
        http: httpx.AsyncClient,
        auth: TokenProvider,
        pacer: AdaptivePacer,
        retry: RetryPolicy,
        stats: ApiStats,
        limits: ResponseLimits | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._host = host_of(self._base)
        self._limits = limits or ResponseLimits()
        self._http = http
        self._auth = auth
        self.pacer = pacer
        self._retry = retry
        self.stats = stats
        self._clock = clock

    async def call(
        self,
        request: Request,
        parse: Callable[[httpx.Response, Origin], T],
        *,
        recover: Callable[[], Awaitable[T | None]] | None = None,
    ) -> T:
        """Send `request` until it succeeds or fails for good; return `parse(answer)`.

        `recover` runs before any replay that follows an attempt which may have landed;
        a non-None result means it did land and is returned instead of sending again.
        """
        op = request.operation
        budget = RetryBudget(self._retry, op, self.stats)
        content = None if request.body is None else json.dumps(request.body).encode()
        so_far = _SoFar()
        while True:
            if so_far.maybe_landed and recover is not None and budget.attempt > 0:
                found = await recover()
                if found is not None:
                    log.info("%s: the earlier attempt had landed; not sending it again", op)
                    return found
            attempt = budget.begin_attempt()
            token = await self._auth.token()
            answer, latency = await self._send(request, token, content, attempt, budget)
            if isinstance(answer, httpx.TransportError):
                await self._after_failure(request, answer, latency, attempt, budget, so_far)
                continue
            response = answer
            status = response.status_code
            retry_after = self._retry.retry_after_from(response)
            self.stats.record_request(op, latency, status)
            self.pacer.observe(status, response.headers, retry_after)
            log.debug("%s %s → %d in %.3fs", request.method, request.path, status, latency)
            if response.is_success:
                try:
                    secrets = self._auth.secrets() + request.secrets
                    origin = Origin(op, request.method, request.path, status, secrets, self._host)
                    return parse(response, origin)
                except MalformedResponse as malformed:
                    budget.fail(malformed)
            if status == 401 and not so_far.refreshed:
                # One refresh and one more try: the token may have expired in flight.
                so_far.refreshed = True
                self.stats.record_retry(op, "HTTP 401")
                await self._auth.refresh(token)
                budget.refund()
                continue
            await self._after_refusal(request, response, retry_after, attempt, budget, so_far)

    async def _send(
        self,
        request: Request,
        token: Secret,
        content: bytes | None,
        attempt: int,
        budget: RetryBudget,
    ) -> tuple[httpx.Response | httpx.TransportError, float]:
        """One attempt in a pacer slot: the answer (or the connection failure) and its
        latency. An answer out of bounds fails the call."""
        headers = {"Authorization": f"Bearer {token.reveal()}", "Accept": "application/json"}
        headers.update(request.headers)
        if content is not None:
            headers["Content-Type"] = request.content_type
        outgoing = self._http.build_request(
            request.method,
            self._base + request.path,
            params=dict(request.params) or None,
            content=content,
            headers=headers,
        )
        async with self.pacer.slot():
            sent = self._clock()
            try:
                answer: httpx.Response | httpx.TransportError = await receive(
                    self._http,
                    outgoing,
                    self._limits,
                    operation=request.operation,
                    path=request.path,
                    attempt=attempt,
                    may_have_landed=request.replay is not Replay.SAFE,
                    shared=request.shared_cap,
                )
            except httpx.TransportError as exc:
                answer = exc
            except (ResponseTimeout, MalformedResponse, ListingTooLarge) as exc:
                # Out of bounds (too slow, too large, badly encoded): not worth a retry.
                self.stats.record_request(request.operation, self._clock() - sent, exc.status)
                budget.fail(exc)
            latency = self._clock() - sent
        return answer, latency

    async def _after_failure(
        self,
        request: Request,
        failure: httpx.TransportError,
        latency: float,
        attempt: int,
        budget: RetryBudget,
        so_far: _SoFar,
    ) -> None:
        """A connection failure: wait for the next attempt, or raise when none may follow."""
        self.stats.record_request(request.operation, latency, None)
        self.pacer.observe(None, {})
        delivery = delivery_of(failure)
        so_far.maybe_landed = so_far.maybe_landed or delivery is Delivery.MAYBE_LANDED
        error = TransportError(
            _transport_summary(failure, host_of(self._base), self._auth.secrets()),
            operation=request.operation,
            method=request.method,
            path=request.path,
            attempts=attempt,
        )
        await budget.wait_or_fail(
            error,
            retryable=may_retry(request.replay, delivery),
            retry_after=None,
            reason=type(failure).__name__,
        )

    async def _after_refusal(
        self,
        request: Request,
        response: httpx.Response,
        retry_after: float | None,
        attempt: int,
        budget: RetryBudget,
        so_far: _SoFar,
    ) -> None:
        """An answer that is not a success: wait for the next attempt, or raise."""
        status = response.status_code
        error = self._status_error(request, response, attempt, so_far)
        delivery = status_delivery(status)
        retryable = may_retry(request.replay, delivery, status)
        await budget.wait_or_fail(
            error, retryable=retryable, retry_after=retry_after, reason=f"HTTP {status}"
        )
        so_far.maybe_landed = so_far.maybe_landed or delivery is Delivery.MAYBE_LANDED

    def _status_error(
        self,
        request: Request,
        response: httpx.Response,
        attempt: int,
        so_far: _SoFar,
    ) -> CxoneApiError:
        status = response.status_code
        cls = error_for_status(status)
        summary = summary_for_status(status)
        if cls is AuthError and so_far.refreshed:
            summary = "the API refused a freshly issued token"
        if cls is Conflict and so_far.maybe_landed:
            summary += "; an earlier attempt whose answer was lost may have applied this change"
        text = _text(response)
        return cls(
            summary,
            operation=request.operation,
            method=request.method,
            path=request.path,
            status=status,
            body=scrub(text, self._auth.secrets() + request.secrets),
            server_message=scrub(server_message(text), self._auth.secrets() + request.secrets),
            attempts=attempt,
            retry_after=self._retry.retry_after_from(response),
            hint=request.not_found_hint if cls is NotFound else None,
            host=self._host,
        )


def _transport_summary(exc: httpx.TransportError, host: str, secrets: tuple[str, ...]) -> str:
    kind = {
        httpx.ConnectError: "could not connect",
        httpx.ConnectTimeout: "timed out connecting",
        httpx.PoolTimeout: "timed out waiting for a free connection",
        httpx.ReadTimeout: "timed out waiting for the answer",
        httpx.RemoteProtocolError: "the server dropped the connection",
        httpx.ReadError: "the connection broke while reading the answer",
        httpx.WriteError: "the connection broke while sending",
        httpx.WriteTimeout: "timed out sending",
    }.get(type(exc), "transport failure")
    return f"{kind} ({host}; {failure_reason(exc, secrets)})"


def _text(response: httpx.Response) -> str:
    try:
        return response.text
    except (UnicodeDecodeError, LookupError):
        return f"<{len(response.content)} bytes, not text>"
