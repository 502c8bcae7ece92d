"""Request accounting for one run: requests, retries, 429s, errors and latency per operation.

`ApiStats` is written by the client as it goes; `snapshot()` gives the frozen figures that
the run summary and the Prometheus export read.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

#: Latency samples kept per operation (the most recent ones); enough for stable p99s.
MAX_SAMPLES: Final = 20_000


def percentile(samples: tuple[float, ...], pct: float) -> float | None:
    """Nearest-rank percentile of `samples` (seconds), or None when there are none."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class OperationStats:
    """Figures for one operation (e.g. `list_connectors`, `patch_connector`, `token`)."""

    operation: str
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    errors: Mapping[str, int] = field(default_factory=dict)
    retry_reasons: Mapping[str, int] = field(default_factory=dict)
    latencies: tuple[float, ...] = ()

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def p50(self) -> float | None:
        return percentile(self.latencies, 50)

    @property
    def p95(self) -> float | None:
        return percentile(self.latencies, 95)

    @property
    def p99(self) -> float | None:
        return percentile(self.latencies, 99)


@dataclass(frozen=True)
class StatsSnapshot:
    """All operations at one moment; totals are sums over operations."""

    operations: Mapping[str, OperationStats]

    @property
    def requests(self) -> int:
        return sum(op.requests for op in self.operations.values())

    @property
    def retries(self) -> int:
        return sum(op.retries for op in self.operations.values())

    @property
    def rate_limited(self) -> int:
        return sum(op.rate_limited for op in self.operations.values())

    @property
    def errors(self) -> int:
        return sum(op.error_count for op in self.operations.values())

    def get(self, operation: str) -> OperationStats:
        return self.operations.get(operation, OperationStats(operation))


class _Counters:
    __slots__ = ("errors", "latencies", "rate_limited", "requests", "retries", "retry_reasons")

    def __init__(self) -> None:
        self.requests = 0
        self.retries = 0
        self.rate_limited = 0
        self.errors: Counter[str] = Counter()
        self.retry_reasons: Counter[str] = Counter()
        self.latencies: deque[float] = deque(maxlen=MAX_SAMPLES)


class ApiStats:
    """Mutable, thread-safe accounting; shared by every request of a run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ops: dict[str, _Counters] = {}

    def _op(self, operation: str) -> _Counters:
        counters = self._ops.get(operation)
        if counters is None:
            counters = self._ops[operation] = _Counters()
        return counters

    def record_request(self, operation: str, latency: float, status: int | None) -> None:
        """One request sent (status None: no response arrived)."""
        with self._lock:
            op = self._op(operation)
            op.requests += 1
            op.latencies.append(latency)
            if status == 429:
                op.rate_limited += 1

    def record_retry(self, operation: str, reason: str) -> None:
        """One more send of the same call is about to happen, because of `reason`."""
        with self._lock:
            op = self._op(operation)
            op.retries += 1
            op.retry_reasons[reason] += 1

    def record_error(self, operation: str, error_class: str) -> None:
        """A call ended in an error (counted once per call, not per attempt)."""
        with self._lock:
            self._op(operation).errors[error_class] += 1

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            ops = {
                name: OperationStats(
                    operation=name,
                    requests=c.requests,
                    retries=c.retries,
                    rate_limited=c.rate_limited,
                    errors=MappingProxyType(dict(c.errors)),
                    retry_reasons=MappingProxyType(dict(c.retry_reasons)),
                    latencies=tuple(c.latencies),
                )
                for name, c in sorted(self._ops.items())
            }
        return StatsSnapshot(operations=MappingProxyType(ops))
