"""One request outside the API session — the token endpoint's POST, the discovery document's
GET — sent until it succeeds or fails for good, as safe to replay as a read.

`fetch_with_retries` is the one retry loop for both: every answer read within
`ResponseLimits`, every attempt counted in `ApiStats`, connection failures and retryable
statuses retried within the `RetryBudget`. A `SafeFetch` says what to send, how to read a
success and how to word each failure for its caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import httpx

from reconciler.cxone.bounded import ResponseLimits, receive
from reconciler.cxone.errors import CxoneApiError, MalformedResponse, ResponseTimeout
from reconciler.cxone.retry import (
    Replay,
    RetryBudget,
    RetryPolicy,
    delivery_of,
    may_retry,
    status_delivery,
)
from reconciler.cxone.stats import ApiStats

T = TypeVar("T")


def _as_is(exc: CxoneApiError, _attempt: int) -> CxoneApiError:
    return exc


@dataclass(frozen=True)
class SafeFetch(Generic[T]):
    """One request and its caller's words; every callable gets the attempt number (1-based)."""

    operation: str
    #: The URL's path, for errors and stats.
    path: str
    #: A fresh request for each attempt.
    build: Callable[[], httpx.Request]
    #: A success's value; raises a CxoneApiError when the answer is not what was asked for.
    parse: Callable[[httpx.Response, int], T]
    #: The error for an answer that is not a success (retried when its status allows).
    refused: Callable[[httpx.Response, int], CxoneApiError]
    #: The error for a connection failure (retried when the failure allows).
    unreachable: Callable[[httpx.TransportError, int], CxoneApiError]
    #: The error for an answer out of bounds (too slow, too large, badly encoded): never
    #: retried. By default the bounded reader's own.
    out_of_bounds: Callable[[CxoneApiError, int], CxoneApiError] = _as_is
    auth: httpx.Auth | None = None


async def fetch_with_retries(
    fetch: SafeFetch[T],
    http: httpx.AsyncClient,
    *,
    limits: ResponseLimits,
    retry: RetryPolicy,
    stats: ApiStats,
    clock: Callable[[], float],
) -> T:
    """Send `fetch` until it succeeds (its parsed value) or fails for good (raises)."""
    operation = fetch.operation
    budget = RetryBudget(retry, operation, stats)
    while True:
        attempt = budget.begin_attempt()
        request = fetch.build()
        sent = clock()
        try:
            response = await receive(
                http,
                request,
                limits,
                operation=operation,
                path=fetch.path,
                attempt=attempt,
                auth=fetch.auth,
            )
        except (ResponseTimeout, MalformedResponse) as exc:
            # Out of bounds (too slow, too large, badly encoded): not worth a retry.
            stats.record_request(operation, clock() - sent, exc.status)
            budget.fail(fetch.out_of_bounds(exc, attempt))
        except httpx.TransportError as exc:
            stats.record_request(operation, clock() - sent, None)
            await budget.wait_or_fail(
                fetch.unreachable(exc, attempt),
                retryable=may_retry(Replay.SAFE, delivery_of(exc)),
                retry_after=None,
                reason=type(exc).__name__,
            )
            continue
        status = response.status_code
        stats.record_request(operation, clock() - sent, status)
        if response.is_success:
            try:
                return fetch.parse(response, attempt)
            except CxoneApiError as malformed:
                budget.fail(malformed)
        await budget.wait_or_fail(
            fetch.refused(response, attempt),
            retryable=may_retry(Replay.SAFE, status_delivery(status), status),
            retry_after=retry.retry_after_from(response),
            reason=f"HTTP {status}",
        )
