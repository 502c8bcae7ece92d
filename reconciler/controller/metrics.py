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
from reconciler.apply.results import Outcome
from reconciler.controller.report import CycleReport, CycleResult, Decision, Phase
from reconciler.cxone.stats import ApiStats
from reconciler.telemetry import names

#: Content type of `render()`.
CONTENT_TYPE = CONTENT_TYPE_LATEST
_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
#: A phase can take milliseconds (a pull with nothing new, a few files to load).
_PHASE_BUCKETS = (0.005, 0.01, 0.025, 0.05, *_DURATION_BUCKETS)


class ApiStatsCollector(Collector):
    """API requests, retries, 429s and errors by operation, straight from the client's stats."""

    def __init__(self, stats: ApiStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        snapshot = self._stats.snapshot()
        families = {
            "requests": CounterMetricFamily(
                names.API_REQUESTS.name, names.API_REQUESTS.help, labels=["operation"]
            ),
            "retries": CounterMetricFamily(
                names.API_RETRIES.name,
                names.API_RETRIES.help,
                labels=["operation"],
            ),
            "rate_limited": CounterMetricFamily(
                names.API_RATE_LIMITED.name,
                names.API_RATE_LIMITED.help,
                labels=["operation"],
            ),
            "errors": CounterMetricFamily(
                names.API_ERRORS.name, names.API_ERRORS.help, labels=["operation"]
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
        self._info = Info(names.CONTROLLER_INFO.name, names.CONTROLLER_INFO.help, registry=r)
        self._mode = mode
        self.set_environment(environment)
        self.started = Counter(names.CYCLES_STARTED.name, names.CYCLES_STARTED.help, registry=r)
        self.cycles = _counter(names.CYCLES, r)
        for result in CycleResult:
            self.cycles.labels(result.value)  # export zeros, so rate() works from the start
        self.phase_duration = Histogram(
            names.CYCLE_PHASE_SECONDS.name,
            names.CYCLE_PHASE_SECONDS.help,
            list(names.CYCLE_PHASE_SECONDS.labels),
            buckets=_PHASE_BUCKETS,
            registry=r,
        )
        for phase in Phase:
            self.phase_duration.labels(phase.value)  # every phase from the start, at zero
        self.files_parsed = _gauge(names.CYCLE_FILES_PARSED, r)
        self.last_success = _gauge(names.LAST_SUCCESS, r)
        self.last_cycle = _gauge(names.LAST_CYCLE, r)
        self.drifted = _gauge(names.DRIFTED, r)
        self.deleted = _gauge(names.DELETED, r)
        self.out_of_sync = _gauge(names.OUT_OF_SYNC, r)
        self.applied = _counter(names.APPLIED, r)
        self.writes = _counter(names.WRITES, r)
        self.failures = _counter(names.FAILURES, r)
        self.backoff = _gauge(names.BACKOFF, r)
        self.pulls = _counter(names.PULLS, r)
        self.commit = Info(names.GIT_INFO.name, names.GIT_INFO.help, registry=r)
        self.notifications = _counter(names.NOTIFICATIONS, r)
        self.policy_violations = _gauge(names.POLICY_VIOLATIONS, r)
        r.register(ApiStatsCollector(stats))
        if process:
            ProcessCollector(registry=r)

    def cycle_started(self) -> None:
        self.started.inc()

    def set_environment(self, environment: str | None) -> None:
        """`cxrecon_controller_info{environment}`: the environment the cycles write to, as
        cxrecon.yaml resolves it (its only one, or defaultEnvironment for a dry run), not
        only what -e said: without -e the label was empty while the page said which."""
        self._info.info(
            {"version": __version__, "environment": environment or "", "mode": self._mode}
        )

    def observe(self, report: CycleReport, *, backoff_count: int) -> None:
        self.cycles.labels(report.result.value).inc()
        for phase, seconds in report.phases.items():
            self.phase_duration.labels(phase.value).observe(seconds)
        if report.files_parsed is not None:
            self.files_parsed.set(report.files_parsed)
        finished = report.started.timestamp() + report.duration
        self.last_cycle.set(finished)
        if report.result is not CycleResult.FAILED:
            self.last_success.set(finished)
            self.drifted.set(report.drifted)
            self.deleted.set(len(report.deleted))
            waiting: dict[str, int] = {}
            for c in report.connectors:
                if c.decision not in (Decision.IN_SYNC, Decision.APPLY):
                    waiting[c.decision.value] = waiting.get(c.decision.value, 0) + 1
            for decision in Decision:
                if decision not in (Decision.IN_SYNC, Decision.APPLY):
                    self.out_of_sync.labels(decision.value).set(waiting.get(decision.value, 0))
            self._policy_violations(report)
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

    def _policy_violations(self, report: CycleReport) -> None:
        # A policy fixed since the last plan must drop to no series, not stay at its count.
        self.policy_violations.clear()
        counts: dict[tuple[str, str], int] = {}
        for v in report.violations:
            counts[(v.policy, v.severity)] = counts.get((v.policy, v.severity), 0) + 1
        for (policy, severity), count in counts.items():
            self.policy_violations.labels(policy, severity).set(count)

    def notified(self, event: str, result: str) -> None:
        """One message of `notifications:` sent (or not): reconciler.notify."""
        self.notifications.labels(event, result).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _counter(metric: names.Metric, registry: CollectorRegistry) -> Counter:
    return Counter(metric.name, metric.help, list(metric.labels), registry=registry)


def _gauge(metric: names.Metric, registry: CollectorRegistry) -> Gauge:
    return Gauge(metric.name, metric.help, list(metric.labels), registry=registry)
