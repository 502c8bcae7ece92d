"""The run summary: figures per operation from the client's stats, in text, JSON and Prometheus."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from reconciler.cxone.stats import ApiStats
from reconciler.telemetry.summary import render_text, summarize, to_json, write_prometheus


def sample_stats() -> ApiStats:
    stats = ApiStats()
    for i in range(100):
        stats.record_request("get_connector", (i + 1) / 1000.0, 200)
    stats.record_request("patch_connector", 0.050, 429)
    stats.record_retry("patch_connector", "429")
    stats.record_request("patch_connector", 0.020, 412)
    stats.record_error("patch_connector", "Conflict")
    return stats


def test_percentiles_rates_and_totals_per_operation() -> None:
    summary = summarize(
        sample_stats().snapshot(),
        command="apply",
        run_id="r1",
        environment="prod",
        duration_seconds=2.0,
        outcomes={"applied": 3, "failed": 1, "skipped": 0},
    )
    ops = {op.operation: op for op in summary.operations}
    get = ops["get_connector"]
    assert (get.requests, get.p50_ms, get.p95_ms, get.p99_ms) == (100, 50.0, 95.0, 99.0)
    patch = ops["patch_connector"]
    assert (patch.requests, patch.retries, patch.rate_limited, patch.errors) == (2, 1, 1, 1)
    assert patch.error_rate == 0.5
    assert summary.overall.requests == 102
    assert summary.overall.errors == 1
    assert not summary.succeeded


def test_text_and_json_show_the_same_figures() -> None:
    summary = summarize(
        sample_stats().snapshot(),
        command="apply",
        run_id="r1",
        environment=None,
        duration_seconds=1.0,
    )
    text = render_text(summary)
    assert "patch_connector" in text
    assert "get_connector" in text
    assert text.splitlines()[-1].startswith("all")
    doc = json.loads(json.dumps(to_json(summary)))
    assert doc["total"]["requests"] == 102
    by_op = {op["operation"]: op for op in doc["operations"]}
    assert by_op["patch_connector"]["rateLimited"] == 1
    assert by_op["get_connector"]["latencyMs"]["p99"] == 99.0


def test_prometheus_file_parses_and_carries_the_figures(tmp_path: Path) -> None:
    summary = summarize(
        sample_stats().snapshot(),
        command="apply",
        run_id="r1",
        environment="prod",
        duration_seconds=2.5,
        outcomes={"applied": 3, "failed": 1},
    )
    path = tmp_path / "textfile" / "cxrecon.prom"
    write_prometheus(summary, path)
    families = {f.name: f for f in text_string_to_metric_families(path.read_text())}
    requests = {
        s.labels["operation"]: s.value for s in families["cxrecon_run_api_requests"].samples
    }
    assert requests == {"get_connector": 100, "patch_connector": 2, "all": 102}
    latency = {
        (s.labels["operation"], s.labels["quantile"]): s.value
        for s in families["cxrecon_run_api_latency_seconds"].samples
    }
    assert latency[("get_connector", "0.99")] == 0.099
    connectors = {s.labels["result"]: s.value for s in families["cxrecon_run_connectors"].samples}
    assert connectors == {"applied": 3, "failed": 1}
    assert families["cxrecon_run_success"].samples[0].value == 0
    assert families["cxrecon_run_duration_seconds"].samples[0].labels["environment"] == "prod"


def test_no_metric_name_has_two_kinds_or_two_owners() -> None:
    from reconciler.telemetry.names import CATALOGUE

    names = [m.name for m in CATALOGUE]
    assert len(names) == len(set(names))
    # A one-shot run's figures are gauges of that run; the controller's are lifetime counters.
    assert all(m.kind == "gauge" for m in CATALOGUE if m.name.startswith("cxrecon_run_"))
    assert all(not m.name.startswith("cxrecon_run_") for m in CATALOGUE if m.kind == "counter")
