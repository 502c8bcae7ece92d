"""What apply leaves behind: the audit trail, the run summary and the Prometheus file — and
never a secret value in any of them, nor on stdout/stderr or in a saved plan."""

from __future__ import annotations

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.testing import RunningEmulator

from .helpers import CANARY_KEY, Project, all_text_files, connector_doc, run_cli


def test_no_secret_value_reaches_any_output(project: Project, emulator: RunningEmulator) -> None:
    doc = connector_doc("Alpha")
    project.write(doc)
    saved = project.root / "plan.json"
    outputs = [run_cli(["plan", "--out", str(saved)]).output]
    outputs.append(run_cli(["apply", "--plan", str(saved), "--sync"]).output)
    # Rotate: the new value is written, so it is resolved and must be masked too.
    rotated = "rotated-" + CANARY_KEY
    outputs.append(
        run_cli(
            ["apply", "--auto-approve", "--metrics-file", "m.prom", "--metrics-format", "json"],
            env={"CXRECON_TEST_API_KEY": rotated},
        ).output
    )
    # An invalid desired state: the error output names the file, never a value.
    project.write({**doc, "endpointUrl": "https://alpha.crm.example/api", "version": "x"})
    outputs.append(run_cli(["apply", "--auto-approve"]).output)

    for text in outputs:
        assert CANARY_KEY not in text
    files = list(all_text_files(project.root))
    assert {p.name for p, _ in files} >= {"audit.jsonl", "plan.json", "m.prom"}
    for path, text in files:
        assert CANARY_KEY not in text, path


def test_audit_records_carry_who_what_and_how(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    monkeypatch.setenv("GITHUB_SHA", "c" * 40)
    project.write(connector_doc("Alpha"))

    result = run_cli(["apply", "--auto-approve", "--audit-log", "logs/audit.jsonl"])

    assert result.exit_code == 0, result.output
    lines = (project.root / "logs" / "audit.jsonl").read_text().splitlines()
    every = [json.loads(line) for line in lines]
    # Each write's intent is on disk before it is sent, its outcome after (the same writeId).
    assert [(r["event"], r["action"]) for r in every] == [
        ("intent", "create"),
        ("outcome", "create"),
        ("intent", "activate"),
        ("outcome", "activate"),
    ]
    assert [r["writeId"] for r in every[::2]] == [r["writeId"] for r in every[1::2]]
    records = every[1::2]
    create, activate = records
    assert create["runId"] == activate["runId"]
    assert create["actor"]["ciActor"] == "octocat"
    assert create["actor"]["gitCommit"] == "c" * 40
    assert create["actor"]["user"]
    assert create["connectorId"] == activate["connectorId"]
    assert create["etagBefore"] is None
    assert create["etagAfter"] == activate["etagBefore"]
    assert activate["etagAfter"] != activate["etagBefore"]
    assert (create["httpStatus"], activate["httpStatus"]) == (201, 200)
    assert create["attempts"] == 1
    assert create["latencyMs"] > 0
    assert create["result"] == activate["result"] == "success"
    assert {"name", "endpointUrl", "authentication", "labels"} <= set(create["fields"])
    assert activate["fields"] == [
        "lifecycleStatus",
        "labels[cxrecon.io/applied-at]",
        "labels[cxrecon.io/applied-digest]",
    ]


def test_run_summary_and_prometheus_file(project: Project, emulator: RunningEmulator) -> None:
    project.write(connector_doc("Alpha"))
    project.write(connector_doc("Beta"))

    metrics = ["--metrics-file", "out/cxrecon.prom", "--metrics-format", "json"]
    result = run_cli(["apply", "--auto-approve", *metrics])

    assert result.exit_code == 0, result.output
    start = result.output.index('{\n  "version": 1')
    summary, _ = json.JSONDecoder().raw_decode(result.output[start:])
    ops = {op["operation"]: op for op in summary["operations"]}
    assert ops["create_connector"]["requests"] == 2
    assert ops["patch_connector"]["requests"] == 2
    assert summary["outcomes"]["applied"] == 2
    assert summary["total"]["latencyMs"]["p99"] >= summary["total"]["latencyMs"]["p50"]

    text = (project.root / "out" / "cxrecon.prom").read_text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    requests = {
        s.labels["operation"]: s.value for s in families["cxrecon_run_api_requests"].samples
    }
    assert requests["create_connector"] == 2
    assert families["cxrecon_run_success"].samples[0].value == 1
    applied = {s.labels["result"]: s.value for s in families["cxrecon_run_connectors"].samples}
    assert applied["applied"] == 2
