"""When a failed API call may be sent again, and how long to wait first.

Full-jitter exponential backoff with a cap, an attempt budget and an overall deadline;
`Retry-After` (seconds or HTTP-date) is a floor. Replays are only allowed when they are safe.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Final, NoReturn

import httpx

from reconciler.cxone.errors import CxoneApiError
from reconciler.cxone.stats import ApiStats

log = logging.getLogger(__name__)

#: Statuses that say "not now" rather than "no": the same request may succeed later.
RETRYABLE_STATUSES: Final = frozenset({429, 502, 503, 504})
#: A plain 500 may be a bug that repeats, so a write is not sent again (apply re-reads
#: instead); a read cannot do harm, and one flaky 500 should not fail a scheduled plan.
READ_RETRYABLE_STATUSES: Final = RETRYABLE_STATUSES | {500}


class Replay(enum.Enum):
    """What makes sending a request a second time harmless."""

    SAFE = "safe"  # a read: no side effect at all
    CONDITIONAL = "conditional"  # carries If-Match: a replay of a landed write gets 412
    KEYED = "keyed"  # carries Idempotency-Key, and is replayed only after a lookup
    ONCE = "once"  # nothing protects it: replay only what never reached the server


class Delivery(enum.Enum):
    """How far a failed attempt got, judged from the transport error or status."""

    NOT_SENT = "not sent"  # the server cannot have acted on it
    MAYBE_LANDED = "maybe landed"  # the server may have acted; its answer was lost
    FATAL = "fatal"  # retrying cannot help (bad URL, protocol misuse, proxy refusal)


_NOT_SENT_ERRORS: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_LOST_ANSWER_ERRORS: Final = (
    httpx.ReadTimeout,
    httpx.ReadError,
    httpx.WriteTimeout,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)


def delivery_of(exc: httpx.TransportError) -> Delivery:
    if isinstance(exc, _NOT_SENT_ERRORS):
        return Delivery.NOT_SENT
    if isinstance(exc, _LOST_ANSWER_ERRORS):
        return Delivery.MAYBE_LANDED
    return Delivery.FATAL


def status_delivery(status: int) -> Delivery:
    """A 429 is refused before any work is done; a 5xx from a gateway may hide a commit."""
    return Delivery.NOT_SENT if status == 429 else Delivery.MAYBE_LANDED


def may_retry(replay: Replay, delivery: Delivery, status: int | None = None) -> bool:
    """Whether a request of this kind may be sent again after this failure."""
    if delivery is Delivery.FATAL:
        return False
    retryable = READ_RETRYABLE_STATUSES if replay is Replay.SAFE else RETRYABLE_STATUSES
    if status is not None and status not in retryable:
        return False
    if replay is Replay.ONCE:
        return delivery is Delivery.NOT_SENT
    return True


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` value (delta-seconds or HTTP-date), or None.

    `now` is the wall-clock epoch time, injected so tests need no real clock.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():  # not `²` or `٣`, digits float() refuses
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT
        return None
    return max(0.0, when.timestamp() - now)


async def _real_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff parameters; `rng`, `sleep`, `clock` and `wall_clock` are injectable for tests.

    `max_attempts` counts every send of one call (first try included); `deadline` bounds
    the whole call, waits included. A Retry-After beyond the deadline ends the call at once.
    """

    base: float = 0.25
    cap: float = 20.0
    max_attempts: int = 6
    deadline: float = 120.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)
    sleep: Callable[[float], Awaitable[None]] = field(
        default=_real_sleep, compare=False, repr=False
    )
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)
    wall_clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base:
            raise ValueError("retry base must be > 0 and cap >= base")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.deadline <= 0:
            raise ValueError("deadline must be > 0 seconds")

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base·2^(attempt-1))] after failed `attempt`."""
        ceiling = min(self.cap, self.base * 2.0 ** min(attempt - 1, 62))
        return self.rng.uniform(0.0, ceiling)

    def wait_before_retry(self, attempt: int, retry_after: float | None) -> float:
        """The wait after failed `attempt` (1-based); the server's Retry-After is a floor."""
        wait = self.backoff(attempt)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait

    def retry_after_from(self, response: httpx.Response) -> float | None:
        return parse_retry_after(response.headers.get("Retry-After"), now=self.wall_clock())


class RetryBudget:
    """The attempts and time one call may still spend; counts every retry in `stats`."""

    def __init__(self, policy: RetryPolicy, operation: str, stats: ApiStats) -> None:
        self.policy = policy
        self.operation = operation
        self.stats = stats
        self.attempt = 0
        self._started = policy.clock()

    def begin_attempt(self) -> int:
        self.attempt += 1
        return self.attempt

    def refund(self) -> None:
        """Take back the last attempt: it failed for a reason that is not transient (a 401
        answered by one token refresh), so it must not eat into the budget."""
        self.attempt = max(0, self.attempt - 1)

    def fail(self, error: CxoneApiError) -> NoReturn:
        self.stats.record_error(self.operation, type(error).__name__)
        raise error

    async def wait_or_fail(
        self, error: CxoneApiError, *, retryable: bool, retry_after: float | None, reason: str
    ) -> None:
        """Sleep before the next attempt, or raise `error` when no retry is allowed or left."""
        if not retryable or self.attempt >= self.policy.max_attempts:
            self.fail(error)
        wait = self.policy.wait_before_retry(self.attempt, retry_after)
        if self.policy.clock() - self._started + wait > self.policy.deadline:
            self.fail(error)
        self.stats.record_retry(self.operation, reason)
        log.info("%s: %s; retry %d in %.2fs", self.operation, reason, self.attempt, wait)
        await self.policy.sleep(wait)
