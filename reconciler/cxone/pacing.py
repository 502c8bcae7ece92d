"""One request pacer shared by every worker of a run: bounded concurrency plus an adaptive rate.

It follows the server's X-RateLimit-Remaining when present, and otherwise AIMD like TCP:
a 429 cuts the rate (and pauses everyone for Retry-After), quiet success raises it slowly.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass


async def _real_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        # `inf` and `1e999` parse as floats but have no int (OverflowError).
        return int(float(raw.strip()))
    except (ValueError, OverflowError):
        return None


@dataclass(frozen=True)
class PacerState:
    """What the pacer believes right now (for logs, metrics and tests)."""

    rate: float | None  # requests per second past the budget; None = no sign of a limit yet
    paused_for: float  # seconds until a Retry-After pause ends
    server_limit: int | None  # the last X-RateLimit-Limit seen
    decreases: int
    in_flight: int


class AdaptivePacer:
    """`async with pacer.slot():` around every request. Safe to share across tasks.

    With X-RateLimit-Remaining, requests spend the server's visible budget down to
    `low_water` (less those in flight), then go at the server's replenish rate, estimated
    from how Remaining moves against the requests it answered. Without the header, AIMD:
    a 429 cuts the rate by `decrease` (once per round of in-flight requests), and success
    adds `increase` requests/s per second while the rate is what holds requests back.
    A 429 always pauses every worker for its Retry-After.
    """

    def __init__(
        self,
        parallelism: int = 8,
        *,
        decrease: float = 0.7,
        increase: float = 5.0,
        headroom: float = 0.97,
        min_rate: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = _real_sleep,
    ) -> None:
        if parallelism < 1:
            raise ValueError("parallelism must be at least 1")
        if not (0 < decrease < 1 and 0 < headroom <= 1):
            raise ValueError("decrease must be in (0, 1) and headroom in (0, 1]")
        self.parallelism = parallelism
        self._decrease = decrease
        self._increase = increase
        self._headroom = headroom
        self._min_rate = min_rate
        self._low_water = parallelism
        self._clock = clock
        self._sleep = sleep
        self._slots = asyncio.Semaphore(parallelism)
        self._aimd_rate: float | None = None
        self._header_rate: float | None = None
        self._allowance: int | None = None  # requests the server's budget still covers
        self._estimated = False  # whether _header_rate comes from a replenish estimate
        self._next_at = 0.0
        self._paused_until = 0.0
        self._cooldown_until = 0.0
        self._last_increase = 0.0
        self._gated_at = -1e9
        self._sent: deque[float] = deque()
        self._succeeded: deque[float] = deque()
        self._remaining: deque[tuple[float, int]] = deque()
        self._server_limit: int | None = None
        self._decreases = 0
        self._in_flight = 0

    @property
    def rate(self) -> float | None:
        """Requests per second allowed once the budget is spent; None = not pacing."""
        rates = [r for r in (self._aimd_rate, self._header_rate) if r is not None]
        return max(self._min_rate, min(rates)) if rates else None

    # --- the gate ------------------------------------------------------------

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._slots:
            await self._wait_turn()
            self._in_flight += 1
            try:
                yield
            finally:
                self._in_flight -= 1

    async def _wait_turn(self) -> None:
        now = self._clock()
        start = max(now, self._paused_until)
        rate = self.rate
        if self._allowance is not None and self._allowance > 0:
            self._allowance -= 1  # the server said it has room: no need to wait
        elif rate is not None:
            # Reserve the slot before sleeping, so concurrent waiters queue up in order.
            if self._next_at > start:
                start = self._next_at
                self._gated_at = now  # the rate, not the server or the workers, held us back
            self._next_at = start + 1.0 / rate
        if start > now:
            await self._sleep(start - now)
        self._sent.append(start)
        while self._sent and self._sent[0] < start - 1.0:
            self._sent.popleft()

    def _recent_rate(self) -> float:
        """Requests per second sent over the last second (or the part of it we have)."""
        if len(self._sent) < 2:
            return float(len(self._sent))
        span = max(self._sent[-1] - self._sent[0], 0.05)
        return (len(self._sent) - 1) / span

    # --- feedback --------------------------------------------------------------

    def observe(
        self, status: int | None, headers: Mapping[str, str], retry_after: float | None = None
    ) -> None:
        """Feed one outcome back (status None: no response arrived). Call it inside `slot`."""
        if status is None:
            return
        now = self._clock()
        limit = _header_int(headers, "X-RateLimit-Limit")
        if limit is not None and limit > 0:
            self._server_limit = limit
            self._low_water = min(self.parallelism, max(1, limit // 4))
        remaining = _header_int(headers, "X-RateLimit-Remaining")
        if remaining is not None:
            self._follow_budget(now, remaining)
        if status == 429:
            if retry_after is not None:
                self._paused_until = max(self._paused_until, now + retry_after)
            if remaining is None:
                self._cut(now)
            elif self._header_rate is not None and now >= self._cooldown_until:
                # Our estimate of the server's pace was too high; the next one replaces this.
                self._header_rate = max(self._min_rate, self._header_rate * self._decrease)
                self._cooldown_until = now + 0.25
                self._decreases += 1
            return
        self._succeeded.append(now)
        while self._succeeded and self._succeeded[0] < now - 1.0:
            self._succeeded.popleft()
        self._grow(now)

    def _follow_budget(self, now: float, remaining: int) -> None:
        # Requests still in flight (other than this one) will spend budget too.
        others = max(0, self._in_flight - 1)
        self._allowance = remaining - self._low_water - others
        samples = self._remaining
        if self._server_limit is not None and remaining >= self._server_limit - 1:
            samples.clear()  # a full bucket says nothing about how fast it refills
            probing = self._header_rate is not None and not self._estimated
            if probing and now - self._gated_at < 1 and now >= self._cooldown_until:
                # The cautious start was too cautious: probe upwards, once per round.
                self._header_rate = (self._header_rate or 0) * 1.5
                self._cooldown_until = now + 0.25
            return
        samples.append((now, remaining))
        while samples and samples[0][0] < now - 2.0:
            samples.popleft()
        estimate = self._replenish_rate()
        if estimate is not None:
            self._header_rate = max(self._min_rate, estimate * self._headroom)
            self._estimated = True
        elif self._header_rate is None and self._allowance <= 0:
            # Too few samples yet: a cautious start that the estimate soon replaces.
            first = float(self._server_limit or self._low_water)
            self._header_rate = max(self._min_rate, min(first, self._recent_rate()))

    def _replenish_rate(self) -> float | None:
        """(ΔRemaining + requests answered) / Δt over the window, once it spans enough."""
        samples = self._remaining
        if len(samples) < 5:
            return None
        (t0, r0), (t1, r1) = samples[0], samples[-1]
        if t1 - t0 < 0.25:
            return None
        return max(0.0, (r1 - r0 + len(samples) - 1) / (t1 - t0))

    def _cut(self, now: float) -> None:
        if now < self._cooldown_until:
            return  # answers to requests sent at the old rate: already accounted for
        current = self.rate
        if current is None:
            if len(self._sent) < 2 * self.parallelism:
                return  # too little traffic to blame on our rate: the pause and backoff do
            # Start from what got through in the last second: what was sent overshot.
            current = float(max(len(self._succeeded), 1))
        self._aimd_rate = max(self._min_rate, current * self._decrease)
        self._decreases += 1
        self._cooldown_until = now + min(1.0, max(0.05, self.parallelism / self._aimd_rate))
        self._last_increase = now

    def _grow(self, now: float) -> None:
        if self._aimd_rate is None:
            return
        elapsed = max(0.0, now - self._last_increase)
        self._last_increase = now
        # Grow only while the rate is what holds requests back (RFC 7661's rule for an
        # application-limited sender); otherwise it would climb to a value never tested.
        if now - self._gated_at <= 1.0:
            self._aimd_rate += self._increase * elapsed

    # --- introspection ---------------------------------------------------------

    def state(self) -> PacerState:
        return PacerState(
            rate=self.rate,
            paused_for=max(0.0, self._paused_until - self._clock()),
            server_limit=self._server_limit,
            decreases=self._decreases,
            in_flight=self._in_flight,
        )
