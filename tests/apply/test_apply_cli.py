"""`cxrecon apply` against the emulator over a real port: creates, updates, lifecycle order,
idempotence, partial failures, confirmation rules and saved plans."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.model import (
    LABEL_APPLIED_DIGEST,
    LABEL_CREDENTIALS_FINGERPRINT,
    LABEL_MANAGED_BY,
)
from reconciler.testing import RunningEmulator

from .helpers import (
    CANARY_ENV,
    CANARY_KEY,
    Project,
    connector_doc,
    remote_connectors,
    run_cli,
    stored_credential_matches,
    write_count,
)


def by_name(emulator: RunningEmulator) -> dict[str, dict[str, object]]:
    return {c["name"]: c for c in remote_connectors(emulator.control)}


def test_new_connectors_are_created_as_draft_then_activated(
    project: Project, emulator: RunningEmulator
) -> None:
    project.write(connector_doc("Alpha"))
    project.write(connector_doc("Beta", lifecycleStatus="INACTIVE"))
    project.write(connector_doc("Gamma", lifecycleStatus="DRAFT"))

    result = run_cli(["apply", "--auto-approve"])

    assert result.exit_code == 0, result.output
    assert "3 applied, 0 failed" in result.output
    remote = by_name(emulator)
    assert {n: c["lifecycleStatus"] for n, c in remote.items()} == {
        "Alpha": "ACTIVE",
        "Beta": "INACTIVE",
        "Gamma": "DRAFT",
    }
    for connector in remote.values():
        labels = connector["labels"]
        assert isinstance(labels, dict)
        assert labels[LABEL_MANAGED_BY] == "cxrecon"
        assert labels[LABEL_APPLIED_DIGEST]
        assert labels[LABEL_CREDENTIALS_FINGERPRINT]
        assert labels["team"] == "tests"
        assert stored_credential_matches(
            emulator.db_path, str(connector["id"]), "apiKey", CANARY_KEY
        )
    # A create costs exactly two writes (POST as DRAFT + the lifecycle PATCH); DRAFT one.
    assert write_count(emulator.control) == 5
    records = [r for r in project.audit_records() if r["connector"] == "Alpha"]
    assert [r["action"] for r in records] == ["create", "activate"]
    assert records[0]["httpStatus"] == 201
    assert records[1]["etagBefore"] == records[0]["etagAfter"]


def test_a_second_apply_of_the_same_state_writes_nothing(
    project: Project, emulator: RunningEmulator
) -> None:
    project.write(connector_doc("Alpha"))
    project.write(connector_doc("Beta", lifecycleStatus="INACTIVE"))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    writes = write_count(emulator.control)

    again = run_cli(["apply", "--auto-approve"])

    assert again.exit_code == 0, again.output
    assert "No changes" in again.output
    assert write_count(emulator.control) == writes


def test_an_update_patches_only_the_changed_fields(
    project: Project, emulator: RunningEmulator
) -> None:
    doc = connector_doc("Alpha")
    project.write(doc)
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    before = write_count(emulator.control)

    project.write({**doc, "endpointUrl": "https://moved.crm.example/api"})
    result = run_cli(["apply", "--auto-approve"])

    assert result.exit_code == 0, result.output
    assert by_name(emulator)["Alpha"]["endpointUrl"] == "https://moved.crm.example/api"
    assert write_count(emulator.control) == before + 1
    last = project.audit_records()[-1]
    assert last["action"] == "update"
    assert "endpointUrl" in last["fields"]
    assert "labels[cxrecon.io/applied-digest]" in last["fields"]


@pytest.mark.parametrize(
    ("start", "target", "expected"),
    [
        # Stop a connector before changing it; start one only once it is configured.
        ("ACTIVE", "INACTIVE", ["deactivate", "update"]),
        ("INACTIVE", "ACTIVE", ["update", "activate"]),
    ],
)
def test_lifecycle_changes_are_ordered_around_field_changes(
    project: Project, emulator: RunningEmulator, start: str, target: str, expected: list[str]
) -> None:
    doc = connector_doc("Alpha", lifecycleStatus=start)
    project.write(doc)
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    seen = len(project.audit_records())

    project.write({**doc, "lifecycleStatus": target, "description": "changed"})
    result = run_cli(["apply", "--auto-approve", "--allow-unsafe"])

    assert result.exit_code == 0, result.output
    actions = [r["action"] for r in project.audit_records()[seen:]]
    assert actions == expected
    remote = by_name(emulator)["Alpha"]
    assert (remote["lifecycleStatus"], remote["description"]) == (target, "changed")
    # The digest of what was applied is stamped by the last write only.
    last = project.audit_records()[-1]
    assert "labels[cxrecon.io/applied-digest]" in last["fields"]


def test_deactivating_an_active_connector_needs_allow_unsafe_without_a_terminal(
    project: Project, emulator: RunningEmulator
) -> None:
    doc = connector_doc("Alpha")
    project.write(doc)
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    writes = write_count(emulator.control)
    project.write({**doc, "lifecycleStatus": "INACTIVE"})

    result = run_cli(["apply", "--auto-approve"])

    assert result.exit_code == 1
    assert "safety gate" in result.output
    assert "--allow-unsafe" in result.output
    assert write_count(emulator.control) == writes


def test_one_failing_connector_does_not_stop_the_others_and_a_rerun_converges(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(connector_doc("Alpha"))
    broken = connector_doc("Broken")
    broken["authentication"]["credentials"]["apiKey"] = "${env:CXRECON_TEST_MISSING_KEY}"
    project.write(broken)
    monkeypatch.delenv("CXRECON_TEST_MISSING_KEY", raising=False)

    result = run_cli(["apply", "--auto-approve"])

    assert result.exit_code == 1
    assert "1 applied, 1 failed" in result.output
    failed_row = next(line for line in result.output.splitlines() if "failed   Broken" in line)
    assert "CXRECON_TEST_MISSING_KEY is not set" in failed_row
    assert set(by_name(emulator)) == {"Alpha"}

    monkeypatch.setenv("CXRECON_TEST_MISSING_KEY", "another-" + CANARY_KEY)
    again = run_cli(["apply", "--auto-approve"])

    assert again.exit_code == 0, again.output
    assert "1 applied, 0 failed" in again.output
    assert by_name(emulator)["Broken"]["lifecycleStatus"] == "ACTIVE"


def test_without_a_terminal_apply_needs_auto_approve_or_a_saved_plan(
    project: Project, emulator: RunningEmulator
) -> None:
    project.write(connector_doc("Alpha"))

    result = run_cli(["apply"])

    assert result.exit_code == 1
    assert "--auto-approve" in result.output
    assert "--plan" in result.output
    assert write_count(emulator.control) == 0


def test_a_saved_plan_is_applied_without_asking(
    project: Project, emulator: RunningEmulator
) -> None:
    project.write(connector_doc("Alpha"))
    saved = project.root / "plan.json"
    assert run_cli(["plan", "--out", str(saved)]).exit_code == 0

    result = run_cli(["apply", "--plan", str(saved)])

    assert result.exit_code == 0, result.output
    assert by_name(emulator)["Alpha"]["lifecycleStatus"] == "ACTIVE"


def test_a_saved_plan_remembers_the_path_it_was_made_from(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = project.connectors / "team-a"
    other.mkdir()
    path = project.write(connector_doc("Alpha"))
    path.rename(other / path.name)
    assert run_cli(["plan", "connectors/team-a", "--out", "plan.json"]).exit_code == 0

    result = run_cli(["apply", "--plan", "plan.json"])

    assert result.exit_code == 0, result.output
    assert by_name(emulator)["Alpha"]["lifecycleStatus"] == "ACTIVE"


def test_a_comment_or_key_order_edit_does_not_make_a_saved_plan_stale(
    project: Project, emulator: RunningEmulator
) -> None:
    path = project.write(connector_doc("Alpha"))
    saved = project.root / "plan.json"
    assert run_cli(["plan", "--out", str(saved)]).exit_code == 0
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text(
        "# reviewed in PR 42\n" + "\n".join([lines[1], lines[0], *lines[2:]]) + "\n",
        encoding="utf-8",
    )

    result = run_cli(["apply", "--plan", str(saved)])

    assert result.exit_code == 0, result.output
    assert "stale" not in result.output


def test_a_stale_saved_plan_is_refused_naming_the_connector_unless_replan(
    project: Project, emulator: RunningEmulator
) -> None:
    doc = connector_doc("Alpha")
    project.write(doc)
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    project.write({**doc, "description": "reviewed change"})
    saved = project.root / "plan.json"
    assert run_cli(["plan", "--out", str(saved)]).exit_code == 0
    connector_id = str(by_name(emulator)["Alpha"]["id"])
    emulator.control.edit(connector_id, {"endpointUrl": "https://someone-else.example/api"})
    writes = write_count(emulator.control)

    refused = run_cli(["apply", "--plan", str(saved)])

    assert refused.exit_code == 1
    assert "Alpha" in refused.output
    assert "stale" in refused.output
    assert write_count(emulator.control) == writes

    replanned = run_cli(["apply", "--plan", str(saved), "--replan", "--auto-approve"])

    assert replanned.exit_code == 0, replanned.output
    remote = by_name(emulator)["Alpha"]
    assert remote["description"] == "reviewed change"
    assert remote["endpointUrl"] == doc["endpointUrl"]


def test_against_a_real_tenant_a_missing_secret_is_an_error_naming_the_variable(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(connector_doc("Alpha"))
    monkeypatch.delenv(CANARY_ENV)

    result = run_cli(["apply", "--auto-approve"])

    assert result.exit_code == 1
    assert f"{CANARY_ENV} is not set" in result.output
    assert "placeholder" not in result.output
    assert write_count(emulator.control) == 0


def test_an_unchanged_connector_whose_secret_is_missing_is_a_warning_not_a_failure(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(connector_doc("Alpha"))
    project.write(connector_doc("Beta"))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    writes = write_count(emulator.control)
    monkeypatch.delenv(CANARY_ENV)

    result = run_cli(["apply", "--auto-approve"])

    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output
    warning = next(line for line in result.output.splitlines() if line.startswith("  Alpha:"))
    assert "credentials unverified" in warning
    assert f"{CANARY_ENV} is not set" in warning
    assert write_count(emulator.control) == writes


def test_a_connector_whose_credentials_must_be_written_fails_naming_the_missing_secret(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(connector_doc("Alpha"))
    project.write(connector_doc("Beta"))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    monkeypatch.delenv(CANARY_ENV)
    changed = connector_doc("Beta")
    changed["authentication"]["credentials"]["headerName"] = "X-Other-Key"
    project.write(changed)

    result = run_cli(["apply", "--auto-approve"])

    assert result.exit_code == 1
    row = next(line for line in result.output.splitlines() if "failed   Beta" in line)
    assert f"{CANARY_ENV} is not set" in row
    assert not any("failed   Alpha" in line for line in result.output.splitlines())


def test_against_the_embedded_emulator_a_missing_secret_becomes_a_placeholder(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(connector_doc("Alpha"))
    monkeypatch.delenv(CANARY_ENV)

    result = run_cli(["apply", "--emulator", "--auto-approve"])

    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if "placeholder" in line]
    assert len(warnings) == 1
    assert CANARY_ENV in warnings[0]
    assert (project.root / ".cxrecon" / "emulator.sqlite").exists()


def test_removing_a_credential_key_converges_in_one_apply(
    project: Project, emulator: RunningEmulator
) -> None:
    doc = connector_doc("Alpha")
    project.write(doc)
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    credentials = {"apiKey": doc["authentication"]["credentials"]["apiKey"]}
    project.write({**doc, "authentication": {"type": "API_KEY", "credentials": credentials}})

    first = run_cli(["apply", "--auto-approve"])
    assert first.exit_code == 0, first.output
    auth: Any = by_name(emulator)["Alpha"]["authentication"]
    assert set(auth["credentials"]) == {"apiKey"}
    writes = write_count(emulator.control)

    second = run_cli(["apply", "--auto-approve"])

    assert second.exit_code == 0, second.output
    assert "No changes." in second.output
    assert write_count(emulator.control) == writes
    assert run_cli(["drift"]).exit_code == 0


def test_changing_the_auth_type_removes_the_old_types_keys(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_TEST_PASSWORD", "canary-password-1b2c")
    basic = {"username": "svc", "password": "${env:CRM_TEST_PASSWORD}"}
    doc = connector_doc("Alpha", authentication={"type": "BASIC", "credentials": basic})
    project.write(doc)
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    project.write(connector_doc("Alpha"))  # API_KEY with apiKey and headerName

    result = run_cli(["apply", "--auto-approve"])

    assert result.exit_code == 0, result.output
    auth: Any = by_name(emulator)["Alpha"]["authentication"]
    assert (auth["type"], set(auth["credentials"])) == ("API_KEY", {"apiKey", "headerName"})
    assert "No changes." in run_cli(["apply", "--auto-approve"]).output
