"""The run summary of a command that talks to CXone: API figures per operation and outcomes.

Built from the client's `StatsSnapshot`; rendered as text or JSON and written as a Prometheus
text file (for the node exporter's textfile collector or a Pushgateway).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.cxone.stats import OperationStats, StatsSnapshot
from reconciler.telemetry import names


@dataclass(frozen=True, slots=True)
class OperationSummary:
    """One API operation's figures; latencies in milliseconds (None when nothing was sent)."""

    operation: str
    requests: int
    retries: int
    rate_limited: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @property
    def error_rate(self) -> float:
        """Calls that ended in an error, per request sent."""
        return self.errors / self.requests if self.requests else 0.0

    @classmethod
    def from_stats(cls, op: OperationStats) -> OperationSummary:
        def ms(value: float | None) -> float | None:
            return None if value is None else round(value * 1000.0, 3)

        return cls(
            operation=op.operation,
            requests=op.requests,
            retries=op.retries,
            rate_limited=op.rate_limited,
            errors=op.error_count,
            p50_ms=ms(op.p50),
            p95_ms=ms(op.p95),
            p99_ms=ms(op.p99),
        )


@dataclass(frozen=True, slots=True)
class CacheUse:
    """How the run used the cache of checked connector files (.cxrecon/cache/): files found
    there (hits) and files parsed and checked (misses)."""

    hits: int
    misses: int


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Everything a run reports about itself besides its result table."""

    command: str
    run_id: str
    environment: str | None
    duration_seconds: float
    operations: tuple[OperationSummary, ...]
    overall: OperationSummary
    outcomes: Mapping[str, int] = field(default_factory=dict)
    finished_at: float = 0.0
    #: None when the run did not use the cache (--no-cache, or a command without one).
    cache: CacheUse | None = None

    @property
    def succeeded(self) -> bool:
        return self.outcomes.get("failed", 0) == 0


def summarize(
    snapshot: StatsSnapshot,
    *,
    command: str,
    run_id: str,
    environment: str | None,
    duration_seconds: float,
    outcomes: Mapping[str, int] | None = None,
    cache: CacheUse | None = None,
) -> RunSummary:
    ops = tuple(OperationSummary.from_stats(op) for op in snapshot.operations.values())
    everything = OperationStats(
        operation="all",
        requests=snapshot.requests,
        retries=snapshot.retries,
        rate_limited=snapshot.rate_limited,
        errors={"any": snapshot.errors} if snapshot.errors else {},
        latencies=tuple(s for op in snapshot.operations.values() for s in op.latencies),
    )
    return RunSummary(
        command=command,
        run_id=run_id,
        environment=environment,
        duration_seconds=duration_seconds,
        operations=ops,
        overall=OperationSummary.from_stats(everything),
        outcomes=dict(outcomes or {}),
        finished_at=time.time(),
        cache=cache,
    )


def render_text(summary: RunSummary) -> str:
    """A fixed-width table: one row per operation, then the total."""
    head = (
        f"{'operation':<20} {'requests':>8} {'retries':>7} {'429s':>5} {'errors':>6} "
        f"{'err%':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
    )
    lines = [
        f"API calls ({summary.command}, {summary.duration_seconds:.1f}s, run {summary.run_id})",
        head,
    ]
    for op in (*summary.operations, summary.overall):
        lines.append(
            f"{op.operation:<20} {op.requests:>8} {op.retries:>7} {op.rate_limited:>5} "
            f"{op.errors:>6} {op.error_rate * 100:>5.1f}% {_ms(op.p50_ms):>8} "
            f"{_ms(op.p95_ms):>8} {_ms(op.p99_ms):>8}"
        )
    if summary.outcomes:
        counts = ", ".join(
            f"{v} {OUTCOME_WORDS.get(k, k)}"
            for k, v in summary.outcomes.items()
            if v or k not in OUTCOME_WORDS  # "already in line" only when it happened
        )
        lines.append(f"connectors: {counts}")
    if summary.cache is not None:
        lines.append(
            f"cache: {summary.cache.hits} hits, {summary.cache.misses} misses (files parsed)"
        )
    return "\n".join(lines)


#: Outcome keys said in words: a connector another writer had already brought in line was
#: not applied by this run (its writes are not counted either).
OUTCOME_WORDS = {"in_line": "already in line (by another writer)"}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def to_json(summary: RunSummary) -> dict[str, Any]:
    def op_json(op: OperationSummary) -> dict[str, Any]:
        return {
            "operation": op.operation,
            "requests": op.requests,
            "retries": op.retries,
            "rateLimited": op.rate_limited,
            "errors": op.errors,
            "errorRate": round(op.error_rate, 6),
            "latencyMs": {"p50": op.p50_ms, "p95": op.p95_ms, "p99": op.p99_ms},
        }

    return {
        "version": 1,
        "command": summary.command,
        "runId": summary.run_id,
        "environment": summary.environment,
        "durationSeconds": round(summary.duration_seconds, 3),
        "total": op_json(summary.overall),
        "operations": [op_json(op) for op in summary.operations],
        "outcomes": dict(summary.outcomes),
        "cache": None
        if summary.cache is None
        else {"hits": summary.cache.hits, "misses": summary.cache.misses},
    }


def write_prometheus(summary: RunSummary, path: Path) -> None:
    """Write the summary as a Prometheus text file (atomically, via a private registry).

    Gauges, not counters: each run replaces the file, so the values are "last run" figures,
    which is what the textfile collector and a Pushgateway expect from a batch job.
    """
    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    from reconciler.safefs import write_atomic

    registry = CollectorRegistry(auto_describe=True)
    base = ("command", "environment")
    env = summary.environment or ""

    def gauge(metric: names.Metric) -> Gauge:
        return Gauge(
            metric.name, metric.help, labelnames=(*base, *metric.labels), registry=registry
        )

    requests = gauge(names.RUN_API_REQUESTS)
    retries = gauge(names.RUN_API_RETRIES)
    throttled = gauge(names.RUN_API_RATE_LIMITED)
    errors = gauge(names.RUN_API_ERRORS)
    ratio = gauge(names.RUN_API_ERROR_RATIO)
    latency = gauge(names.RUN_API_LATENCY)
    for op in (*summary.operations, summary.overall):
        labels = (summary.command, env, op.operation)
        requests.labels(*labels).set(op.requests)
        retries.labels(*labels).set(op.retries)
        throttled.labels(*labels).set(op.rate_limited)
        errors.labels(*labels).set(op.errors)
        ratio.labels(*labels).set(op.error_rate)
        for q, value in (("0.5", op.p50_ms), ("0.95", op.p95_ms), ("0.99", op.p99_ms)):
            if value is not None:
                latency.labels(*labels, q).set(value / 1000.0)
    connectors = gauge(names.RUN_CONNECTORS)
    for result, count in summary.outcomes.items():
        connectors.labels(summary.command, env, result).set(count)
    if summary.cache is not None:
        gauge(names.RUN_CACHE_HITS).labels(summary.command, env).set(summary.cache.hits)
        gauge(names.RUN_CACHE_MISSES).labels(summary.command, env).set(summary.cache.misses)
    gauge(names.RUN_SECONDS).labels(summary.command, env).set(summary.duration_seconds)
    gauge(names.RUN_SUCCESS).labels(summary.command, env).set(1 if summary.succeeded else 0)
    gauge(names.RUN_FINISHED).labels(summary.command, env).set(summary.finished_at)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not write_to_textfile: its temporary file has a guessable name opened through links.
    # Whole or not at all, never through a link, a full disk as one line (reconciler.safefs).
    write_atomic(path, generate_latest(registry), what="metrics file")
