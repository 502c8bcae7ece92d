"""Per-call figures for the audit log (attempts, final HTTP status, latency) taken from the
client's own request accounting, without changing the client: `TracingStats` mirrors each
request into the `CallTrace` of the task that is inside `with traced():`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from reconciler.cxone.stats import ApiStats

_current: ContextVar[CallTrace | None] = ContextVar("cxrecon_call_trace", default=None)


@dataclass
class CallTrace:
    """The requests one logical call made: (operation, HTTP status or None, latency)."""

    started: float = field(default_factory=time.perf_counter)
    ended: float | None = None
    requests: list[tuple[str, int | None, float]] = field(default_factory=list)

    def attempts(self, operation: str) -> int:
        return sum(1 for op, _, _ in self.requests if op == operation)

    def last_status(self, operation: str) -> int | None:
        for op, status, _ in reversed(self.requests):
            if op == operation:
                return status
        return None

    @property
    def elapsed(self) -> float:
        return (self.ended if self.ended is not None else time.perf_counter()) - self.started


@contextmanager
def traced() -> Iterator[CallTrace]:
    """Collect the requests this task makes inside the block (tasks started inside it,
    and other tasks, are not mixed in: each asyncio task has its own context)."""
    trace = CallTrace()
    token = _current.set(trace)
    try:
        yield trace
    finally:
        trace.ended = time.perf_counter()
        _current.reset(token)


class TracingStats(ApiStats):
    """ApiStats that also feeds the current CallTrace, if any."""

    def record_request(self, operation: str, latency: float, status: int | None) -> None:
        super().record_request(operation, latency, status)
        trace = _current.get()
        if trace is not None:
            trace.requests.append((operation, status, latency))
