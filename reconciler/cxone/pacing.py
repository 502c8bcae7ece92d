"""One request pacer shared by every worker of a run: bounded concurrency plus an adaptive rate.

The rate follows AIMD, like TCP congestion control: a 429 cuts it (and pauses everyone for
Retry-After), X-RateLimit-Remaining near zero trims it early, quiet success raises it slowly.
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
        return int(float(raw.strip()))
    except ValueError:
        return None


@dataclass(frozen=True)
class PacerState:
    """What the pacer believes right now (for logs, metrics and tests)."""

    rate: float | None  # requests per second; None = not pacing (no sign of a limit yet)
    paused_for: float  # seconds until a Retry-After pause ends
    server_limit: int | None  # the last X-RateLimit-Limit seen
    decreases: int
    in_flight: int


class AdaptivePacer:
    """`async with pacer.slot():` around every request. Safe to share across tasks.

    Until the server shows a limit, requests go as fast as `parallelism` allows. The first
    sign (a 429, or Remaining at or below `low_water`) starts pacing at the rate just seen.
    From then on: 429 → rate × `decrease`; Remaining 0 → rate × `soft_decrease`; Remaining
    above `low_water` (or no header) → rate + `increase` per second. At most one decrease per
    `parallelism` requests' worth of time, so the answers to requests already sent at the old
    rate don't cut it again.
    """

    def __init__(
        self,
        parallelism: int = 8,
        *,
        decrease: float = 0.7,
        soft_decrease: float = 0.9,
        increase: float = 5.0,
        min_rate: float = 0.5,
        max_rate: float | None = None,
        low_water: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = _real_sleep,
    ) -> None:
        if parallelism < 1:
            raise ValueError("parallelism must be at least 1")
        if not (0 < decrease < 1 and 0 < soft_decrease < 1):
            raise ValueError("decrease factors must be between 0 and 1")
        self.parallelism = parallelism
        self._decrease_factor = decrease
        self._soft_decrease_factor = soft_decrease
        self._increase = increase
        self._min_rate = min_rate
        self._max_rate = max_rate
        self._low_water = parallelism if low_water is None else low_water
        self._clock = clock
        self._sleep = sleep
        self._slots = asyncio.Semaphore(parallelism)
        self._rate: float | None = max_rate
        self._next_at = 0.0
        self._paused_until = 0.0
        self._cooldown_until = 0.0
        self._last_increase = 0.0
        self._sent: deque[float] = deque()
        self._server_limit: int | None = None
        self._decreases = 0
        self._in_flight = 0

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
        if self._rate is not None:
            # Reserve the next slot before sleeping, so concurrent waiters queue up in order.
            start = max(start, self._next_at)
            self._next_at = start + 1.0 / self._rate
        if start > now:
            await self._sleep(start - now)
        self._mark_sent(max(start, now))

    def _mark_sent(self, when: float) -> None:
        self._sent.append(when)
        while self._sent and self._sent[0] < when - 1.0:
            self._sent.popleft()

    def _recent_rate(self) -> float:
        """Requests sent in the last second: where pacing starts when a limit first shows."""
        return float(max(len(self._sent), 1))

    # --- feedback --------------------------------------------------------------

    def observe(
        self, status: int | None, headers: Mapping[str, str], retry_after: float | None = None
    ) -> None:
        """Feed one response (status None: no response) back into the rate."""
        now = self._clock()
        limit = _header_int(headers, "X-RateLimit-Limit")
        if limit is not None and limit > 0:
            self._server_limit = limit
        if status == 429:
            if retry_after is not None:
                self._paused_until = max(self._paused_until, now + retry_after)
            self._cut(now, self._decrease_factor)
            return
        if status is None:
            return
        remaining = _header_int(headers, "X-RateLimit-Remaining")
        if remaining is not None and remaining <= 0:
            self._cut(now, self._soft_decrease_factor)
        elif remaining is not None and remaining <= self._low_water:
            if self._rate is None:
                self._start_pacing(now)
        else:
            self._raise(now)

    def _start_pacing(self, now: float) -> None:
        rate = self._recent_rate()
        if self._server_limit is not None:
            # The limit's window is not standardised; it only ever lowers the first guess.
            rate = min(rate, float(self._server_limit))
        self._rate = max(self._min_rate, rate)
        self._last_increase = now

    def _cut(self, now: float, factor: float) -> None:
        if self._rate is None:
            self._start_pacing(now)
        elif now < self._cooldown_until:
            return
        assert self._rate is not None
        self._rate = max(self._min_rate, self._rate * factor)
        self._decreases += 1
        self._cooldown_until = now + min(1.0, max(0.05, self.parallelism / self._rate))
        self._last_increase = now

    def _raise(self, now: float) -> None:
        if self._rate is None:
            return
        elapsed = max(0.0, now - self._last_increase)
        self._last_increase = now
        if self._rate >= 2 * self._recent_rate():
            return  # the pacer is not what limits us; growing further would only mislead
        rate = self._rate + self._increase * elapsed
        self._rate = rate if self._max_rate is None else min(rate, self._max_rate)

    # --- introspection ---------------------------------------------------------

    def state(self) -> PacerState:
        return PacerState(
            rate=self._rate,
            paused_for=max(0.0, self._paused_until - self._clock()),
            server_limit=self._server_limit,
            decreases=self._decreases,
            in_flight=self._in_flight,
        )
