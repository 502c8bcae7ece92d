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
    """Requests by (method + route template, status) and rate-limit rejections."""

    requests: Counter[tuple[str, int]] = field(default_factory=Counter)
    rate_limited: int = 0
    started: float = field(default_factory=time.monotonic)

    def reset(self) -> None:
        self.requests.clear()
        self.rate_limited = 0
        self.started = time.monotonic()


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
