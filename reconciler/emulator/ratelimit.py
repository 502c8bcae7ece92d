"""Per-client token-bucket rate limiting with the usual X-RateLimit-* headers.

A bucket holds `burst` requests and refills at `rate` per second; an empty bucket answers 429
with Retry-After. Limit, Remaining and Reset (seconds until full) go on every API response.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from reconciler.emulator.config import Knobs


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int
    retry_after_s: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        out = [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset_s).encode()),
        ]
        if not self.allowed:
            out.append((b"retry-after", str(self.retry_after_s).encode()))
        return out


class _Bucket:
    __slots__ = ("level", "stamp")

    def __init__(self, level: float, stamp: float) -> None:
        self.level = level
        self.stamp = stamp


class RateLimiter:
    """Buckets keyed by OAuth client (or peer address before a token exists)."""

    def __init__(self, knobs: Knobs, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.knobs = knobs
        self.monotonic = monotonic
        self._buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.knobs.rate_limit > 0

    def take(self, key: str) -> Decision:
        rate, burst = self.knobs.rate_limit, self.knobs.burst
        now = self.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(burst), now)
        bucket.level = min(float(burst), bucket.level + (now - bucket.stamp) * rate)
        bucket.stamp = now
        allowed = bucket.level >= 1.0
        if allowed:
            bucket.level -= 1.0
        reset_s = math.ceil((burst - bucket.level) / rate) if bucket.level < burst else 0
        retry_after = 0 if allowed else max(1, math.ceil((1.0 - bucket.level) / rate))
        return Decision(allowed, burst, int(bucket.level), reset_s, retry_after)

    def reset(self) -> None:
        self._buckets.clear()
