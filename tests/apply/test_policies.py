"""What the project leaves to CXone (issue 15) and renames (issue 14), against the emulator:
an ignored field edited in CXone survives apply and self-heal and is not drift; `labels:
merge` keeps CXone's labels; `observe` connectors are never written; `create-only` ones
are created and then left alone; `previousNames` turns a rename into one `rename`."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from reconciler.testing import RunningEmulator

from .helpers import Project, connector_doc, remote_connectors, run_cli, write_count


def by_name(emulator: RunningEmulator) -> dict[str, dict[str, object]]:
    return {str(c["name"]): c for c in remote_connectors(emulator.control)}


def project_file(project: Project, config: dict[str, object]) -> None:
    text = yaml.safe_dump(config, sort_keys=False)
    (project.root / "cxrecon.yaml").write_text(text, encoding="utf-8")


def test_an_ignored_field_edited_in_cxone_survives_apply_and_is_not_drift(
    project: Project, emulator: RunningEmulator
) -> None:
    project_file(
        project,
        {"ignoreDifferences": [{"connectors": ["Al*"], "fields": ["syncSettings.batchSize"]}]},
    )
    project.write(connector_doc("Alpha"))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    cid = str(by_name(emulator)["Alpha"]["id"])
    emulator.control.edit(cid, {"syncSettings": {"batchSize": 42}})
    writes = write_count(emulator.control)

    plan = run_cli(["plan", "--format", "json", "--detailed-exitcode"])
    drift = run_cli(["drift"])
    applied = run_cli(["apply", "--auto-approve"])

    assert plan.exit_code == 0, plan.output
    document = json.loads(plan.output)
    assert document["ignoredFields"] == 1
    assert document["changes"] == []
    assert drift.exit_code == 0, drift.output
    assert applied.exit_code == 0
    assert write_count(emulator.control) == writes
    assert by_name(emulator)["Alpha"]["syncSettings"] == {
        "batchSize": 42,
        "retryAttempts": 3,
        "syncIntervalMinutes": 15,
    }


def test_a_write_never_carries_an_ignored_field(
    project: Project, emulator: RunningEmulator
) -> None:
    project_file(project, {"ignoreDifferences": [{"fields": ["syncSettings.batchSize"]}]})
    doc = connector_doc("Alpha")
    project.write(doc)
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    cid = str(by_name(emulator)["Alpha"]["id"])
    emulator.control.edit(cid, {"syncSettings": {"batchSize": 42}})
    project.write({**doc, "syncSettings": {"batchSize": 100, "retryAttempts": 5}})

    result = run_cli(["apply", "--auto-approve"])

    assert result.exit_code == 0, result.output
    sync = by_name(emulator)["Alpha"]["syncSettings"]
    assert sync == {"batchSize": 42, "retryAttempts": 5, "syncIntervalMinutes": 15}
    assert "No changes." in run_cli(["plan"]).output


def test_labels_merge_keeps_labels_set_in_cxone(
    project: Project, emulator: RunningEmulator
) -> None:
    project_file(project, {"ignoreDifferences": [{"labels": "merge"}]})
    doc = connector_doc("Alpha")
    project.write(doc)
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    cid = str(by_name(emulator)["Alpha"]["id"])
    emulator.control.edit(cid, {"labels": {"team-notes": "call-before-friday"}})
    project.write({**doc, "labels": {"team": "tests", "tier": "gold"}})

    result = run_cli(["apply", "--auto-approve"])

    assert result.exit_code == 0, result.output
    labels = by_name(emulator)["Alpha"]["labels"]
    assert isinstance(labels, dict)
    assert labels["team-notes"] == "call-before-friday"
    assert labels["tier"] == "gold"


def test_observed_connectors_are_never_written_but_their_differences_are_drift(
    project: Project, emulator: RunningEmulator
) -> None:
    doc = connector_doc("Alpha")
    project.write(doc)
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    project.write({**doc, "management": "observe", "description": "git says this"})
    project.write({**connector_doc("Beta"), "management": "observe"})
    writes = write_count(emulator.control)

    plan = run_cli(["plan", "--format", "json", "--detailed-exitcode"])
    applied = run_cli(["apply", "--auto-approve"])
    drift = run_cli(["drift"])

    assert plan.exit_code == 0, plan.output  # nothing to write
    summary = json.loads(plan.output)["summary"]
    assert summary["observe"] == 2
    assert applied.exit_code == 0, applied.output
    assert write_count(emulator.control) == writes
    assert "Beta" not in by_name(emulator)
    assert drift.exit_code == 2
    assert "description" in drift.output


def test_create_only_connectors_are_created_then_left_alone(
    project: Project, emulator: RunningEmulator
) -> None:
    project_file(
        project, {"managementPolicies": [{"connectors": ["Alpha"], "management": "create-only"}]}
    )
    doc = connector_doc("Alpha")
    project.write(doc)
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    assert by_name(emulator)["Alpha"]["lifecycleStatus"] == "ACTIVE"
    project.write({**doc, "description": "changed in git later"})
    writes = write_count(emulator.control)

    result = run_cli(["apply", "--auto-approve"])

    assert result.exit_code == 0, result.output
    assert write_count(emulator.control) == writes
    assert by_name(emulator)["Alpha"]["description"] == doc["description"]


def test_a_rename_with_previous_names_is_one_rename_not_a_create_and_an_orphan(
    project: Project, emulator: RunningEmulator
) -> None:
    doc = connector_doc("Alpha")
    old_file: Path = project.write(doc)
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    cid = by_name(emulator)["Alpha"]["id"]
    old_file.unlink()
    project.write(
        {**connector_doc("Alpha-Renamed"), "previousNames": ["Alpha"], "version": "1.1.0"}
    )

    plan = run_cli(["plan", "--prune", "--format", "json"])
    applied = run_cli(["apply", "--auto-approve", "--prune"])

    changes = json.loads(plan.output)["changes"]
    assert [(c["name"], c["action"], c["renamedFrom"]) for c in changes] == [
        ("Alpha-Renamed", "rename", "Alpha")
    ]
    assert {f["path"] for f in changes[0]["fields"]} >= {"name", "version"}
    assert applied.exit_code == 0, applied.output
    remote = by_name(emulator)
    assert set(remote) == {"Alpha-Renamed"}
    assert remote["Alpha-Renamed"]["id"] == cid
    assert remote["Alpha-Renamed"]["version"] == "1.1.0"
    assert "No changes." in run_cli(["plan", "--prune"]).output


def two_environments(project: Project, emulator: RunningEmulator, **production: object) -> None:
    env = {"baseUrl": emulator.base_url, "clientId": "demo-client"}
    project_file(
        project,
        {
            "defaultEnvironment": "sandbox",
            "environments": {"sandbox": dict(env), "production": {**env, **production}},
        },
    )


def test_an_override_changes_only_its_environments_plan_and_is_marked(
    project: Project, emulator: RunningEmulator
) -> None:
    overrides = {"Al*": {"lifecycleStatus": "INACTIVE", "syncSettings": {"batchSize": 50}}}
    two_environments(project, emulator, overrides=overrides)
    project.write(connector_doc("Alpha"))
    assert run_cli(["apply", "-e", "sandbox", "--auto-approve"]).exit_code == 0  # ACTIVE, 500

    sandbox = run_cli(["plan", "-e", "sandbox", "--detailed-exitcode"])
    production = run_cli(["plan", "-e", "production", "--format", "json"])

    assert sandbox.exit_code == 0, sandbox.output
    (change,) = json.loads(production.output)["changes"]
    fields = {f["path"]: f for f in change["fields"]}
    assert fields["syncSettings.batchSize"]["after"] == 50
    assert fields["syncSettings.batchSize"]["override"] is True
    assert change["transition"] == {"from": "ACTIVE", "to": "INACTIVE"}
    text = run_cli(["plan", "-e", "production"]).output
    assert "(override)" in text


def test_a_bad_override_is_reported_at_its_line_in_cxrecon_yaml(
    project: Project, emulator: RunningEmulator
) -> None:
    two_environments(project, emulator, overrides={"Alpha": {"syncSettings": {"batchSize": 0}}})
    project.write(connector_doc("Alpha"))

    result = run_cli(["validate"])

    assert result.exit_code == 1
    line = next(x for x in result.output.splitlines() if "override" in x)
    assert line.startswith("cxrecon.yaml:")
    assert "batchSize" in line
    assert "[override]" in line


def test_a_saved_plan_made_under_ignore_rules_and_observe_applies_as_reviewed(
    project: Project, emulator: RunningEmulator
) -> None:
    project_file(project, {"ignoreDifferences": [{"fields": ["syncSettings.batchSize"]}]})
    doc = connector_doc("Alpha")
    project.write(doc)
    project.write({**connector_doc("Beta"), "management": "observe"})
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    cid = str(by_name(emulator)["Alpha"]["id"])
    emulator.control.edit(cid, {"syncSettings": {"batchSize": 42}})
    project.write({**doc, "version": "1.2.0"})
    saved = project.root / "plan.json"
    assert run_cli(["plan", "--out", str(saved)]).exit_code == 0

    result = run_cli(["apply", "--plan", str(saved)])

    assert result.exit_code == 0, result.output
    alpha = by_name(emulator)["Alpha"]
    assert alpha["version"] == "1.2.0"
    assert alpha["syncSettings"] == {"batchSize": 42, "retryAttempts": 3, "syncIntervalMinutes": 15}
