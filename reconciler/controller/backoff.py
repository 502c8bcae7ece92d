"""Per-connector backoff after failed applies: base·2ⁿ⁻¹ seconds, capped, reset by a success.

A connector in backoff is still planned and reported each cycle but not written, so one broken
connector neither blocks the others nor hammers the API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    base_seconds: float = 60.0
    cap_seconds: float = 3600.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure in a row (1-based)."""
        if failures <= 0:
            return 0.0
        # Bound the exponent: 2**1000 would overflow a float long before the cap matters.
        return min(self.cap_seconds, self.base_seconds * 2.0 ** min(failures - 1, 60))


@dataclass(frozen=True, slots=True)
class BackoffState:
    """One connector's failures in a row, when it may be tried again and the last reason."""

    failures: int
    retry_at: float  # on the controller's monotonic clock
    last_error: str


class ConnectorBackoff:
    """Backoff bookkeeping for every connector, keyed by name, on an injected monotonic clock."""

    def __init__(self, policy: BackoffPolicy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self._clock = clock
        self._states: dict[str, BackoffState] = {}

    def waiting(self, name: str) -> BackoffState | None:
        """The state of `name` while its backoff has not expired, else None."""
        state = self._states.get(name)
        if state is None or self._clock() >= state.retry_at:
            return None
        return state

    def remaining(self, state: BackoffState) -> float:
        return max(0.0, state.retry_at - self._clock())

    def failed(self, name: str, reason: str) -> BackoffState:
        previous = self._states.get(name)
        failures = (previous.failures if previous else 0) + 1
        state = BackoffState(failures, self._clock() + self.policy.delay(failures), reason)
        self._states[name] = state
        return state

    def succeeded(self, name: str) -> None:
        self._states.pop(name, None)

    def keep_only(self, names: Iterable[str]) -> None:
        """Forget connectors no longer planned (renamed or removed), so state stays bounded."""
        keep = set(names)
        for name in [n for n in self._states if n not in keep]:
            del self._states[name]

    def states(self) -> Mapping[str, BackoffState]:
        return MappingProxyType(dict(self._states))
