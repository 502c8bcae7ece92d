"""A connector `cxrecon apply` created and someone then deleted in CXone (issue 15): plan and
drift say "deleted in CXone" (text, Markdown, schema-valid JSON), not a plain create; apply
re-creates it, shown as such. Known from the audit log apply writes; without one (or for a
connector never applied) a missing connector is an ordinary create."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from reconciler.testing import RunningEmulator

from .helpers import CANARY_KEY, Project, connector_doc, remote_connectors, run_cli

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def schema(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return loaded


def delete(emulator: RunningEmulator, name: str) -> str:
    connector_id = str(
        next(c for c in remote_connectors(emulator.control) if c["name"] == name)["id"]
    )
    emulator.control.delete(connector_id)
    return connector_id


def test_plan_and_drift_report_a_deleted_connector_and_apply_recreates_it(
    project: Project, emulator: RunningEmulator
) -> None:
    project.write(connector_doc("Alpha"))
    project.write(connector_doc("Beta"))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    old_id = delete(emulator, "Alpha")
    project.write(connector_doc("Gamma"))  # new in git: an ordinary create

    text = run_cli(["plan"])
    as_json = run_cli(["plan", "--format", "json"])
    markdown = run_cli(["plan", "--format", "markdown"])
    drift = run_cli(["drift"])
    drift_json = run_cli(["drift", "--format", "json"])

    assert text.exit_code == 0, text.output
    assert "Plan: 2 to create (1 deleted in CXone), 1 unchanged." in text.output
    assert "+ re-create Alpha (DRAFT → ACTIVE) [deleted in CXone]" in text.output
    assert f"deleted in CXone (id {old_id}, last applied " in text.output
    assert "from the audit log); apply re-creates it" in text.output
    assert "+ create Gamma (DRAFT → ACTIVE)\n" in text.output
    document = json.loads(as_json.output)
    jsonschema.validate(document, schema("plan.schema.json"))
    assert document["deletedInCxone"] == 1
    changes = {c["name"]: c for c in document["changes"]}
    assert changes["Alpha"]["action"] == "create"
    assert changes["Alpha"]["origin"] == "drift"
    assert changes["Alpha"]["deletedInCxone"]["id"] == old_id
    assert changes["Alpha"]["deletedInCxone"]["source"] == "audit log"
    assert changes["Gamma"]["deletedInCxone"] is None
    assert "**Deleted in CXone**" in markdown.output
    assert "re-create Alpha (DRAFT → ACTIVE) [deleted in CXone]" in markdown.output
    assert drift.exit_code == 2, drift.output
    assert "1 connector(s) deleted in CXone" in drift.output
    assert f"- Alpha — connectors/alpha.yaml: deleted in CXone (id {old_id}" in drift.output
    report = json.loads(drift_json.output)
    jsonschema.validate(report, schema("drift.schema.json"))
    assert [d["name"] for d in report["deleted"]] == ["Alpha"]
    assert report["missing"] == ["Gamma"]
    for output in (text, as_json, markdown, drift, drift_json):
        assert CANARY_KEY not in output.output

    applied = run_cli(["apply", "--auto-approve"])

    assert applied.exit_code == 0, applied.output
    assert "re-create Alpha (DRAFT → ACTIVE) [deleted in CXone]" in applied.output
    remote = {c["name"]: c for c in remote_connectors(emulator.control)}
    assert remote["Alpha"]["id"] != old_id
    assert remote["Alpha"]["lifecycleStatus"] == "ACTIVE"
    assert "No changes." in run_cli(["plan"]).output
    assert run_cli(["drift"]).exit_code == 0


def test_without_the_audit_log_a_missing_connector_is_an_ordinary_create(
    project: Project, emulator: RunningEmulator
) -> None:
    project.write(connector_doc("Alpha"))
    assert run_cli(["apply", "--audit-log", "elsewhere.jsonl", "--auto-approve"]).exit_code == 0
    delete(emulator, "Alpha")

    default = run_cli(["plan", "--format", "json"])
    pointed = run_cli(["plan", "--format", "json", "--audit-log", "elsewhere.jsonl"])

    assert json.loads(default.output)["changes"][0]["deletedInCxone"] is None
    assert json.loads(pointed.output)["changes"][0]["deletedInCxone"] is not None


def test_a_connector_renamed_in_cxone_is_not_reported_deleted(
    project: Project, emulator: RunningEmulator
) -> None:
    project.write(connector_doc("Alpha"))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    alpha = next(c for c in remote_connectors(emulator.control) if c["name"] == "Alpha")
    emulator.control.edit(str(alpha["id"]), {"name": "Alpha-Renamed-In-UI"})

    document = json.loads(run_cli(["plan", "--format", "json"]).output)

    changes = {c["name"]: c for c in document["changes"]}
    assert changes["Alpha"]["deletedInCxone"] is None  # its id is still there, as an orphan
    assert changes["Alpha-Renamed-In-UI"]["action"] == "orphan"


def test_a_reviewed_re_create_is_applied_as_reviewed_from_a_saved_plan(
    project: Project, emulator: RunningEmulator
) -> None:
    project.write(connector_doc("Alpha"))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    delete(emulator, "Alpha")
    saved = project.root / "plan.json"
    assert run_cli(["plan", "--out", str(saved)]).exit_code == 0

    applied = run_cli(["apply", "--plan", str(saved)])

    assert applied.exit_code == 0, applied.output
    assert "re-create Alpha (DRAFT → ACTIVE) [deleted in CXone]" in applied.output
    assert "Alpha" in {c["name"] for c in remote_connectors(emulator.control)}


def test_status_says_deleted_in_cxone(project: Project, emulator: RunningEmulator) -> None:
    project.write(connector_doc("Alpha"))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    delete(emulator, "Alpha")

    status = run_cli(["status", "--plan"])

    row = next(line for line in status.output.splitlines() if "Alpha" in line)
    assert "Deleted in CXone" in row, status.output
    assert "Changed in CXone" not in row
