"""The controller's Prometheus metrics, on a private registry served at /metrics.

Cycle counters and gauges are updated as cycles finish; API figures are read from the shared
`ApiStats` at scrape time, so they are always current and never double counted.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from reconciler import __version__
from reconciler.apply.executor import Outcome
from reconciler.controller.report import CycleReport, CycleResult, Decision
from reconciler.cxone.stats import ApiStats

P = "cxrecon"
#: Content type of `render()`.
CONTENT_TYPE = CONTENT_TYPE_LATEST
_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class ApiStatsCollector(Collector):
    """API requests, retries, 429s and errors by operation, straight from the client's stats."""

    def __init__(self, stats: ApiStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        snapshot = self._stats.snapshot()
        families = {
            "requests": CounterMetricFamily(
                f"{P}_api_requests", "HTTP requests sent to CXone", labels=["operation"]
            ),
            "retries": CounterMetricFamily(
                f"{P}_api_retries",
                "Requests re-sent after a transient failure",
                labels=["operation"],
            ),
            "rate_limited": CounterMetricFamily(
                f"{P}_api_rate_limited",
                "Requests answered 429 Too Many Requests",
                labels=["operation"],
            ),
            "errors": CounterMetricFamily(
                f"{P}_api_errors", "API calls that ended in an error", labels=["operation"]
            ),
        }
        for name, op in snapshot.operations.items():
            families["requests"].add_metric([name], op.requests)
            families["retries"].add_metric([name], op.retries)
            families["rate_limited"].add_metric([name], op.rate_limited)
            families["errors"].add_metric([name], op.error_count)
        yield from families.values()


class ControllerMetrics:
    """Every series the controller exports; `observe(report)` after each cycle."""

    def __init__(
        self, stats: ApiStats, *, environment: str | None, mode: str, process: bool = True
    ) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        Info(f"{P}_controller", "The running controller", registry=r).info(
            {"version": __version__, "environment": environment or "", "mode": mode}
        )
        self.started = Counter(
            f"{P}_reconcile_cycles_started", "Reconcile cycles started", registry=r
        )
        self.cycles = Counter(
            f"{P}_reconcile_cycles",
            "Reconcile cycles finished, by result (success, partial, failed)",
            ["result"],
            registry=r,
        )
        for result in CycleResult:
            self.cycles.labels(result.value)  # export zeros, so rate() works from the start
        self.duration = Histogram(
            f"{P}_reconcile_cycle_duration_seconds",
            "Wall time of one reconcile cycle",
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.last_success = Gauge(
            f"{P}_reconcile_last_success_timestamp_seconds",
            "When the last successful (or partial) cycle finished, Unix time",
            registry=r,
        )
        self.last_cycle = Gauge(
            f"{P}_reconcile_last_cycle_timestamp_seconds",
            "When the last cycle finished, Unix time",
            registry=r,
        )
        self.drifted = Gauge(
            f"{P}_drifted_connectors",
            "Connectors changed in CXone since the last apply (drift or conflict), last plan",
            registry=r,
        )
        self.out_of_sync = Gauge(
            f"{P}_out_of_sync_connectors",
            "Connectors whose planned changes were not applied in the last cycle, by reason",
            ["reason"],
            registry=r,
        )
        self.applied = Counter(
            f"{P}_applied_changes",
            "Connectors changed in CXone by the controller, by planned action",
            ["action"],
            registry=r,
        )
        self.writes = Counter(
            f"{P}_api_writes", "Create and patch calls that succeeded", registry=r
        )
        self.failures = Counter(
            f"{P}_connector_failures", "Connector applies that failed", registry=r
        )
        self.backoff = Gauge(
            f"{P}_backoff_connectors", "Connectors waiting out a backoff after failures", registry=r
        )
        self.pulls = Counter(
            f"{P}_git_pulls",
            "git pulls of the desired-state repository, by result",
            ["result"],
            registry=r,
        )
        self.commit = Info(f"{P}_git", "The commit the last cycle used", registry=r)
        r.register(ApiStatsCollector(stats))
        if process:
            ProcessCollector(registry=r)

    def cycle_started(self) -> None:
        self.started.inc()

    def observe(self, report: CycleReport, *, backoff_count: int) -> None:
        self.cycles.labels(report.result.value).inc()
        self.duration.observe(report.duration)
        finished = report.started.timestamp() + report.duration
        self.last_cycle.set(finished)
        if report.result is not CycleResult.FAILED:
            self.last_success.set(finished)
            self.drifted.set(report.drifted)
            waiting: dict[str, int] = {}
            for c in report.connectors:
                if c.decision not in (Decision.IN_SYNC, Decision.APPLY):
                    waiting[c.decision.value] = waiting.get(c.decision.value, 0) + 1
            for decision in Decision:
                if decision not in (Decision.IN_SYNC, Decision.APPLY):
                    self.out_of_sync.labels(decision.value).set(waiting.get(decision.value, 0))
        for c in report.connectors:
            if c.result is None:
                continue
            self.writes.inc(c.result.writes)
            if c.result.outcome is Outcome.APPLIED:
                self.applied.labels(c.action.value).inc()
            elif c.result.outcome is Outcome.FAILED:
                self.failures.inc()
        self.backoff.set(backoff_count)
        if report.pull is not None:
            self.pulls.labels("success" if report.pull.ok else "failure").inc()
        if report.commit:
            self.commit.info({"commit": report.commit})

    def render(self) -> bytes:
        return generate_latest(self.registry)
