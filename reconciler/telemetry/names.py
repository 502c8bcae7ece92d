"""The one catalogue of metric names: what the controller's /metrics serves and what a
one-shot run writes to its Prometheus text file, each name with one kind and one meaning.

The controller counts over its lifetime (counters); a one-shot run reports its own figures
as gauges under `cxrecon_run_*`, so no name is a counter in one place and a gauge in another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

PREFIX: Final = "cxrecon"
Kind = Literal["counter", "gauge", "histogram", "info"]


@dataclass(frozen=True, slots=True)
class Metric:
    """A metric's name (without the `_total` a counter gains on the wire), kind, help
    text and label names."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()


def _m(name: str, kind: Kind, help: str, *labels: str) -> Metric:
    return Metric(f"{PREFIX}_{name}", kind, help, labels)


# --- the controller (`cxrecon reconcile`, served at /metrics) -----------------------------
CONTROLLER_INFO: Final = _m("controller", "info", "The running controller")
CYCLES_STARTED: Final = _m("reconcile_cycles_started", "counter", "Reconcile cycles started")
CYCLES: Final = _m(
    "reconcile_cycles",
    "counter",
    "Reconcile cycles finished, by result (success, partial, failed)",
    "result",
)
#: The cycle's time is measured by phase only: one after the other, the phases make up the
#: cycle, so summing them over `phase` gives it (one histogram, not a second one beside it).
CYCLE_PHASE_SECONDS: Final = _m(
    "cycle_duration_seconds",
    "histogram",
    "Wall time of each phase of a reconcile cycle (pull, load, fetch, plan, apply; together "
    "the whole cycle)",
    "phase",
)
CYCLE_FILES_PARSED: Final = _m(
    "cycle_files_parsed",
    "gauge",
    "Connector files parsed by the last cycle that got through loading them",
)
LAST_SUCCESS: Final = _m(
    "reconcile_last_success_timestamp_seconds",
    "gauge",
    "When the last successful (or partial) cycle finished, Unix time",
)
LAST_CYCLE: Final = _m(
    "reconcile_last_cycle_timestamp_seconds", "gauge", "When the last cycle finished, Unix time"
)
DRIFTED: Final = _m(
    "drifted_connectors",
    "gauge",
    "Connectors changed in CXone since the last apply (drift or conflict), last plan",
)
DELETED: Final = _m(
    "deleted_connectors",
    "gauge",
    "Connectors cxrecon managed that were deleted in CXone, last plan (re-created only "
    "with --self-heal)",
)
OUT_OF_SYNC: Final = _m(
    "out_of_sync_connectors",
    "gauge",
    "Connectors whose planned changes were not applied in the last cycle, by reason",
    "reason",
)
APPLIED: Final = _m(
    "applied_changes",
    "counter",
    "Connectors changed in CXone by the controller, by planned action",
    "action",
)
WRITES: Final = _m("api_writes", "counter", "Create and patch calls that succeeded")
FAILURES: Final = _m("connector_failures", "counter", "Connector applies that failed")
BACKOFF: Final = _m(
    "backoff_connectors", "gauge", "Connectors waiting out a backoff after failures"
)
PULLS: Final = _m(
    "git_pulls", "counter", "git pulls of the desired-state repository, by result", "result"
)
GIT_INFO: Final = _m("git", "info", "The commit the last cycle used")
NOTIFICATIONS: Final = _m(
    "notifications",
    "counter",
    "Messages to the destinations of `notifications:`, by event and result (sent, failed, timeout)",
    "event",
    "result",
)
POLICY_VIOLATIONS: Final = _m(
    "policy_violations",
    "gauge",
    "Connectors breaking each `policies:` rule of cxrecon.yaml, last plan, by policy and severity",
    "policy",
    "severity",
)
API_REQUESTS: Final = _m("api_requests", "counter", "HTTP requests sent to CXone", "operation")
API_RETRIES: Final = _m(
    "api_retries", "counter", "Requests re-sent after a transient failure", "operation"
)
API_RATE_LIMITED: Final = _m(
    "api_rate_limited", "counter", "Requests answered 429 Too Many Requests", "operation"
)
API_ERRORS: Final = _m("api_errors", "counter", "API calls that ended in an error", "operation")

# --- one run of a command (`--metrics-file`: gauges of that run) ------------------------
RUN_API_REQUESTS: Final = _m(
    "run_api_requests", "gauge", "HTTP requests sent in the last run", "operation"
)
RUN_API_RETRIES: Final = _m(
    "run_api_retries", "gauge", "Requests re-sent after a transient failure", "operation"
)
RUN_API_RATE_LIMITED: Final = _m(
    "run_api_rate_limited", "gauge", "Requests answered 429 in the last run", "operation"
)
RUN_API_ERRORS: Final = _m(
    "run_api_errors", "gauge", "Calls that ended in an error in the last run", "operation"
)
RUN_API_ERROR_RATIO: Final = _m(
    "run_api_error_ratio", "gauge", "Errors per request sent in the last run", "operation"
)
RUN_API_LATENCY: Final = _m(
    "run_api_latency_seconds",
    "gauge",
    "Request latency quantiles in the last run",
    "operation",
    "quantile",
)
RUN_CONNECTORS: Final = _m(
    "run_connectors", "gauge", "Connectors by outcome in the last run", "result"
)
RUN_CACHE_HITS: Final = _m(
    "run_cache_hits", "gauge", "Connector files the last run found checked in .cxrecon/cache/"
)
RUN_CACHE_MISSES: Final = _m(
    "run_cache_misses", "gauge", "Connector files the last run parsed and checked (cache misses)"
)
RUN_SECONDS: Final = _m("run_duration_seconds", "gauge", "Wall time of the last run")
RUN_SUCCESS: Final = _m("run_success", "gauge", "1 when the last run had no failure")
RUN_FINISHED: Final = _m(
    "run_last_timestamp_seconds", "gauge", "When the last run finished (Unix time)"
)

#: Every metric, for documentation and the test that no name has two kinds.
CATALOGUE: Final = tuple(v for v in dict(globals()).values() if isinstance(v, Metric))
