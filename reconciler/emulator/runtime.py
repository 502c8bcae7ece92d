"""The services one running emulator shares between its middleware and its routes.

Built once by `create_app`; reachable from a request as `request.app.state.runtime`.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from reconciler.emulator.auth import TokenService
from reconciler.emulator.config import EmulatorConfig, Knobs
from reconciler.emulator.faults import FaultInjector
from reconciler.emulator.ratelimit import RateLimiter
from reconciler.emulator.resource import Clock
from reconciler.emulator.store import Store


@dataclass
class Stats:
    """Requests by (method + route template, status), rate-limit rejections, and API requests
    in the server at once (now, and the most since the start or the last reset)."""

    requests: Counter[tuple[str, int]] = field(default_factory=Counter)
    rate_limited: int = 0
    started: float = field(default_factory=time.monotonic)
    in_flight: int = 0
    peak_in_flight: int = 0

    def reset(self) -> None:
        self.requests.clear()
        self.rate_limited = 0
        self.started = time.monotonic()
        self.peak_in_flight = self.in_flight

    def enter(self) -> None:
        """An API request arrived (the event loop is single-threaded: no lock needed)."""
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def leave(self) -> None:
        self.in_flight -= 1


class Runtime:
    """Config, mutable knobs, state and the per-request services built on them."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.knobs = Knobs.from_config(config)
        self.store = Store(config.db_path)
        self.clock = Clock()
        self.tokens = TokenService(config, self.knobs, self.store, self.clock)
        self.limiter = RateLimiter(self.knobs)
        self.faults = FaultInjector(self.knobs)
        self.stats = Stats()

    def reset(self, tokens: bool = False) -> None:
        """Back to a fresh emulator (same config); tokens survive unless asked."""
        fresh = Knobs.from_config(self.config)
        for name in Knobs.__slots__:
            setattr(self.knobs, name, getattr(fresh, name))
        self.store.reset(tokens=tokens)
        if tokens:
            self.tokens.forget_cache()
        self.limiter.reset()
        self.faults.reset()
        self.stats.reset()
        self.clock.offset = 0.0

    def close(self) -> None:
        self.store.close()
