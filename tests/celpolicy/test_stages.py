"""Policies at every stage against the emulator: plan (text, Markdown, JSON against the
published schema), apply (a violating connector is held, the others are written), validate."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from apply.helpers import CANARY_KEY, Project, connector_doc, remote_connectors, run_cli

from reconciler.testing import RunningEmulator

POLICIES = """
project: demo
policies:
  - name: crm-hosts
    rule: connector.endpointUrl.startsWith("https://alpha.")
    message: connectors talk only to the company's CRM hosts
  - name: owning-team
    severity: warning
    rule: has(connector.labels.owner)
  - name: no-big-deactivation
    rule: "!change.deactivates || project.deactivations <= 2"
"""


DEACTIVATIONS = """
project: demo
policies:
  - name: no-big-deactivation
    rule: "!change.deactivates || project.deactivations <= 2"
"""


def write_project(root: Path, text: str = POLICIES) -> None:
    (root / "cxrecon.yaml").write_text(text, encoding="utf-8")


def test_plan_json_lists_each_violation_located_and_matches_the_schema(project: Project) -> None:
    write_project(project.root)
    project.write(connector_doc("Alpha"))
    project.write(connector_doc("Beta"))

    result = run_cli(["plan", "--format", "json"])

    assert result.exit_code == 1, result.output
    document = json.loads(result.output)
    schema = (
        json.loads(Path("../../../..", "schemas/plan.schema.json").read_text()) if False else None
    )
    schema = json.loads((Path(__file__).parents[2] / "schemas/plan.schema.json").read_text())
    jsonschema.validate(document, schema)
    found = {(v["policy"], v["connector"], v["severity"]) for v in document["policy"]["violations"]}
    assert found == {
        ("crm-hosts", "Beta", "error"),
        ("owning-team", "Alpha", "warning"),
        ("owning-team", "Beta", "warning"),
    }
    beta = next(v for v in document["policy"]["violations"] if v["policy"] == "crm-hosts")
    assert beta["message"] == "connectors talk only to the company's CRM hosts"
    assert beta["location"].endswith("beta.yaml:1:1") or beta["line"] >= 1
    assert document["policy"]["errors"] == 1


def test_plan_text_and_markdown_show_a_policy_section(project: Project) -> None:
    write_project(project.root)
    project.write(connector_doc("Beta"))

    text = run_cli(["plan"])
    markdown = run_cli(["plan", "--format", "markdown"])

    assert "Policy: 1 error(s), 1 warning(s)" in text.output
    assert "error: policy 'crm-hosts': Beta" in text.output
    assert "### Policy" in markdown.output
    assert "| error | crm-hosts | Beta |" in markdown.output


def test_apply_holds_the_violating_connector_and_writes_the_others(
    project: Project, emulator: RunningEmulator
) -> None:
    write_project(project.root)
    project.write(connector_doc("Alpha"))
    project.write(connector_doc("Beta"))

    result = run_cli(["apply", "--auto-approve"])

    assert result.exit_code == 1, result.output
    names = {c["name"] for c in remote_connectors(emulator.control)}
    assert names == {"Alpha"}
    assert "policy 'crm-hosts'" in result.output


def test_a_merge_may_not_deactivate_more_than_two(
    project: Project, emulator: RunningEmulator
) -> None:
    write_project(project.root, "project: demo\n")
    for name in ("Alpha", "Alpha2", "Alpha3"):
        project.write(connector_doc(name))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    write_project(project.root, DEACTIVATIONS)
    for name in ("Alpha", "Alpha2", "Alpha3"):
        project.write(connector_doc(name, lifecycleStatus="INACTIVE", labels={"owner": "x"}))

    result = run_cli(["apply", "--auto-approve", "--allow-unsafe"])

    assert result.exit_code == 1, result.output
    assert result.output.count("policy 'no-big-deactivation'") >= 3
    states = {c["name"]: c["lifecycleStatus"] for c in remote_connectors(emulator.control)}
    assert states == {"Alpha": "ACTIVE", "Alpha2": "ACTIVE", "Alpha3": "ACTIVE"}


def test_validate_checks_offline_and_skips_rules_that_need_a_plan(project: Project) -> None:
    write_project(project.root)
    project.write(connector_doc("Beta"))

    result = run_cli(["validate", "--format", "json"])

    assert result.exit_code == 1, result.output
    body = json.loads(result.output)
    assert body["valid"] is False  # the files are well-formed; a policy of severity error is broken
    assert [v["policy"] for v in body["policy"]["violations"]] == ["crm-hosts", "owning-team"]
    assert body["policy"]["skipped"] == [
        {"policy": "no-big-deactivation", "reason": "reads change (only a plan knows it)"}
    ]


def test_a_rule_that_does_not_compile_is_located_in_cxrecon_yaml(project: Project) -> None:
    write_project(
        project.root,
        "project: demo\npolicies:\n  - name: typo\n    rule: connector.endpointUr == ''\n",
    )
    project.write(connector_doc("Alpha"))

    for command in (["validate"], ["plan"]):
        result = run_cli(command)
        assert result.exit_code == 1
        assert (
            "cxrecon.yaml:4:11: error: policy 'typo': unknown field 'endpointUr'" in result.output
        )
        assert "Traceback" not in result.output


def test_two_deactivations_pass_and_every_deactivation_of_three_is_held(
    project: Project, emulator: RunningEmulator
) -> None:
    write_project(project.root, "project: demo\n")
    for name in ("Alpha", "Alpha2"):
        project.write(connector_doc(name))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    write_project(project.root, DEACTIVATIONS)
    for name in ("Alpha", "Alpha2"):
        project.write(connector_doc(name, lifecycleStatus="INACTIVE"))

    result = run_cli(["apply", "--auto-approve", "--allow-unsafe"])

    assert result.exit_code == 0, result.output
    states = {c["name"]: c["lifecycleStatus"] for c in remote_connectors(emulator.control)}
    assert states == {"Alpha": "INACTIVE", "Alpha2": "INACTIVE"}


CURRENT_AND_CHANGE = """
project: demo
policies:
  - name: endpoint-is-fixed
    rule: current == null || current.endpointUrl == connector.endpointUrl
  - name: no-mapping-edits
    severity: warning
    rule: change.action == "create" || !change.fields.exists(f, f.startsWith("mappings"))
  - name: secrets-masked
    rule: >-
      current == null || (current.authentication.credentials.apiKey == "***"
        && current.authentication.credentials.headerName == "X-Api-Key")
"""


def test_current_and_change_are_what_cxone_holds_and_what_would_change(
    project: Project, emulator: RunningEmulator
) -> None:
    write_project(project.root, CURRENT_AND_CHANGE)
    project.write(connector_doc("Alpha"))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0  # current is null: a create
    mappings = connector_doc("Alpha")["mappings"]
    mappings[2]["direction"] = "BIDIRECTIONAL"
    project.write(
        connector_doc("Alpha", endpointUrl="https://elsewhere.example/api", mappings=mappings)
    )

    result = run_cli(["plan", "--format", "json"])

    found = {
        (v["policy"], v["severity"]) for v in json.loads(result.output)["policy"]["violations"]
    }
    assert found == {("endpoint-is-fixed", "error"), ("no-mapping-edits", "warning")}
    assert CANARY_KEY not in result.output


def test_a_saved_plan_is_held_by_policies_too(project: Project, emulator: RunningEmulator) -> None:
    write_project(project.root)
    project.write(connector_doc("Alpha"))
    project.write(connector_doc("Beta"))
    saved = project.root / "plan.json"
    assert run_cli(["plan", "--out", str(saved)]).exit_code == 1

    result = run_cli(["apply", "--plan", str(saved), "--auto-approve"])

    assert result.exit_code == 1, result.output
    assert {c["name"] for c in remote_connectors(emulator.control)} == {"Alpha"}


def test_validate_text_notes_skipped_rules_and_annotates_violations(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(project.root)
    project.write(connector_doc("Beta"))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")

    result = run_cli(["validate"])

    assert result.exit_code == 1
    assert "note: policy 'no-big-deactivation' is checked by plan and apply only" in result.output
    assert "policies: 1 error(s), 1 warning(s); the desired state breaks its policies" in (
        result.output
    )
    assert "::error file=connectors/beta.yaml,line=1,col=1,title=cxrecon policy::" in result.output
