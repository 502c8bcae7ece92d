"""The shared pacer: pauses on Retry-After, AIMD on 429s, following X-RateLimit-Remaining."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import Coroutine
from typing import Any

import pytest

from reconciler.cxone.pacing import AdaptivePacer

from .fakes import FakeTime

pytestmark = pytest.mark.anyio


class VirtualTime:
    """Discrete-event time for many concurrent tasks: a sleep wakes when the clock gets there."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(seconds, 0.0), next(self._seq), future))
        await future

    async def run(self, *coros: Coroutine[Any, Any, None]) -> None:
        tasks = [asyncio.ensure_future(c) for c in coros]
        while not all(t.done() for t in tasks):
            for _ in range(20):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
            if self._timers:
                when, _, future = heapq.heappop(self._timers)
                self.now = max(self.now, when)
                future.set_result(None)
        for task in tasks:
            task.result()


class TokenBucket:
    """The emulator's limiter in miniature: `burst` requests, refilled at `rate` per second."""

    def __init__(self, time: VirtualTime, rate: float, burst: int) -> None:
        self.time, self.rate, self.burst = time, rate, burst
        self.level, self.stamp = float(burst), 0.0
        self.answered: list[int] = []

    def take(self) -> tuple[int, dict[str, str], float | None]:
        now = self.time.now
        self.level = min(self.burst, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        allowed = self.level >= 1
        if allowed:
            self.level -= 1
        headers = {
            "X-RateLimit-Limit": str(self.burst),
            "X-RateLimit-Remaining": str(int(self.level)),
            "X-RateLimit-Reset": str(math.ceil((self.burst - self.level) / self.rate)),
        }
        status = 200 if allowed else 429
        self.answered.append(status)
        return status, headers, None if allowed else 1.0


async def run_workload(
    pacer: AdaptivePacer, server: TokenBucket, time: VirtualTime, requests: int
) -> None:
    queue = iter(range(requests))

    async def worker() -> None:
        for _ in queue:
            while True:
                async with pacer.slot():
                    await time.sleep(0.002)  # the round trip
                    status, headers, retry_after = server.take()
                    pacer.observe(status, headers, retry_after)
                if status != 429:
                    break
                await time.sleep(retry_after or 0)

    await time.run(*(worker() for _ in range(pacer.parallelism)))


async def test_a_big_run_stays_just_under_a_token_bucket_limit_without_429_storms() -> None:
    time = VirtualTime()
    server = TokenBucket(time, rate=100, burst=20)
    pacer = AdaptivePacer(8, clock=time.clock, sleep=time.sleep)
    await run_workload(pacer, server, time, 1000)
    ok = server.answered.count(200)
    limited = server.answered.count(429)
    assert ok == 1000
    assert limited <= 20, f"{limited} answers were 429"
    ideal = (1000 - 20) / 100
    assert ideal * 0.9 <= time.now <= ideal * 1.15, f"took {time.now:.2f}s, ideal {ideal:.2f}s"


async def test_without_rate_headers_aimd_converges_after_429s() -> None:
    time = VirtualTime()
    server = TokenBucket(time, rate=50, burst=10)
    pacer = AdaptivePacer(8, clock=time.clock, sleep=time.sleep)
    hide = server.take

    def take_without_headers() -> tuple[int, dict[str, str], float | None]:
        status, _headers, retry_after = hide()
        return status, {}, retry_after

    server.take = take_without_headers  # type: ignore[method-assign]
    await run_workload(pacer, server, time, 600)
    limited = server.answered.count(429)
    assert pacer.state().decreases >= 1
    assert limited < 60, f"{limited} answers were 429: no convergence"
    assert time.now < 600 / 50 * 1.6


async def test_a_429_pauses_every_worker_for_retry_after() -> None:
    time = FakeTime()
    pacer = AdaptivePacer(4, clock=time.clock, sleep=time.sleep)
    pacer.observe(429, {}, retry_after=3.0)
    assert pacer.state().paused_for == 3.0
    async with pacer.slot():
        pass
    assert time.waits == [3.0]


async def test_aimd_cuts_once_per_round_and_grows_additively() -> None:
    time = FakeTime()
    pacer = AdaptivePacer(4, clock=time.clock, sleep=time.sleep, increase=5.0)
    for _ in range(40):  # 40 requests answered within 0.4 s
        async with pacer.slot():
            time.now += 0.01
            pacer.observe(200, {})
    assert pacer.state().rate is None  # no limit seen yet: not pacing
    pacer.observe(429, {})
    first = pacer.rate
    assert first is not None
    assert first == pytest.approx(0.7 * 40)  # from what got through in the last second
    pacer.observe(429, {})  # an answer to a request sent before the cut
    assert pacer.rate == first
    time.now += 1.0
    pacer.observe(200, {})
    assert pacer.rate == first  # nobody waited on the rate: no reason to raise it
    cut_at = time.now
    for _ in range(2):
        async with pacer.slot():  # the second one waits for its slot
            pass
    time.now += 0.5
    pacer.observe(200, {})
    grown = first + 5.0 * (time.now - cut_at)
    assert pacer.rate == pytest.approx(grown)
    pacer.observe(429, {})
    assert pacer.rate == pytest.approx(grown * 0.7)
    assert pacer.state().decreases == 2


async def test_a_lone_429_with_little_traffic_does_not_start_pacing() -> None:
    time = FakeTime()
    pacer = AdaptivePacer(8, clock=time.clock, sleep=time.sleep)
    async with pacer.slot():
        pass
    pacer.observe(429, {}, retry_after=None)
    assert pacer.rate is None


async def test_remaining_budget_paces_at_the_estimated_replenish_rate() -> None:
    time = FakeTime()
    pacer = AdaptivePacer(4, clock=time.clock, sleep=time.sleep)
    headers = {"X-RateLimit-Limit": "20"}
    # Answers every 20 ms while Remaining holds at 3: the server refills 50 requests/s.
    for _ in range(20):
        time.now += 0.02
        pacer.observe(200, {**headers, "X-RateLimit-Remaining": "3"})
    assert pacer.rate == pytest.approx(50 * 0.97, rel=0.01)
    async with pacer.slot():
        pass
    async with pacer.slot():
        pass
    assert time.waits == [pytest.approx(1 / (50 * 0.97))]


async def test_visible_budget_is_spent_without_waiting_down_to_the_low_water_mark() -> None:
    time = FakeTime()
    pacer = AdaptivePacer(4, clock=time.clock, sleep=time.sleep)
    for _ in range(20):
        time.now += 0.02
        pacer.observe(200, {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "3"})
    pacer.observe(200, {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "15"})
    for _ in range(15 - 4):  # low water: a quarter of the limit, at most `parallelism`
        async with pacer.slot():
            pass
    assert time.waits == []
    for _ in range(2):  # budget spent: back to the server's pace
        async with pacer.slot():
            pass
    assert pacer.rate is not None
    assert time.waits == [pytest.approx(1 / pacer.rate)]


async def test_more_workers_than_the_server_bucket_still_avoids_a_429_storm() -> None:
    time = VirtualTime()
    server = TokenBucket(time, rate=100, burst=20)
    pacer = AdaptivePacer(50, clock=time.clock, sleep=time.sleep)
    await run_workload(pacer, server, time, 1000)
    limited = server.answered.count(429)
    assert limited <= 100, f"{limited} answers were 429"  # the blind first wave is 30
    assert time.now <= (1000 - 20) / 100 * 1.25


def test_pacer_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="parallelism"):
        AdaptivePacer(0)
    with pytest.raises(ValueError, match="decrease"):
        AdaptivePacer(2, decrease=1.5)
