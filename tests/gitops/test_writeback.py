"""`cxrecon drift --write-back`: adopt CXone's changes with the smallest edit, keep comments,
never write a secret or overwrite a ${var:} reference, then plan clean."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from reconciler.testing import RunningEmulator

from .helpers import API_KEY, PASSWORD, PROJECT, Run


def changed_lines(before: str, after: str) -> list[str]:
    """Lines removed ("-…") and added ("+…"), as multisets in file order: independent of how
    a diff tool happens to align a removed and an added line."""
    old, new = Counter(before.splitlines()), Counter(after.splitlines())
    removed, added = old - new, new - old
    out = []
    for line in before.splitlines():
        if removed[line]:
            removed[line] -= 1
            out.append("-" + line)
    for line in after.splitlines():
        if added[line]:
            added[line] -= 1
            out.append("+" + line)
    return out


def original(name: str) -> str:
    return (PROJECT / "connectors" / name).read_text(encoding="utf-8")


def test_write_back_makes_a_minimal_diff_that_keeps_comments_then_plans_clean(
    applied: dict[str, str], run: Run, emulator: RunningEmulator, project: Path
) -> None:
    emulator.control.edit(
        applied["Support-Desk"],
        {
            "description": "Cases (edited in CXone)",
            "lifecycleStatus": "INACTIVE",
            "labels": {"tier": None, "oncall": "yes"},
            "mappings": [
                {"cxoneField": "case.external_id", "crmField": "id", "direction": "INBOUND"},
                {
                    "cxoneField": "case.subject",
                    "crmField": "subject",
                    "direction": "BIDIRECTIONAL",
                    "transformation": "trim",
                },
                {"cxoneField": "case.priority", "crmField": "priority", "direction": "INBOUND"},
            ],
            "syncSettings": {"batchSize": 300, "retryAttempts": 5},
            "version": "1.5.0",
        },
    )
    result = run("drift", "--write-back")
    assert result.exit_code == 0, result.output
    assert "Wrote back 10 field(s) into 1 file(s):" in result.stdout
    after = (project / "connectors" / "support-desk.yaml").read_text(encoding="utf-8")
    assert changed_lines(original("support-desk.yaml"), after) == [
        "-description: Cases from the support desk",
        "-lifecycleStatus: ACTIVE",
        "-    direction: INBOUND",  # one of three such lines: the subject mapping's
        "-  - cxoneField: contact.email",
        "-    crmField: requester_email",
        "-    transformation: email_normalize",
        "-  batchSize: 200",
        '-version: "1.4.0"',
        "-  tier: gold",
        "+description: Cases (edited in CXone)",
        "+lifecycleStatus: INACTIVE",
        "+    direction: BIDIRECTIONAL",
        "+  - cxoneField: case.priority",
        "+    crmField: priority",
        "+  batchSize: 300",
        "+  retryAttempts: 5",
        '+version: "1.5.0"',
        '+  oncall: "yes"',
    ]
    # Edits in place: 9 lines out, 9 in, nothing else reflowed.
    assert len(after.splitlines()) == len(original("support-desk.yaml").splitlines())
    # Every comment survives, including the end-of-line ones.
    for line in original("support-desk.yaml").splitlines():
        if "#" in line:
            assert line in after.splitlines()
    assert (project / "connectors" / "legacy.yaml").read_text() == original("legacy.yaml")

    plan = run("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    again = run("drift")
    assert again.exit_code == 0, again.output


def test_var_reference_is_not_overwritten_and_the_var_value_is_suggested(
    applied: dict[str, str], run: Run, emulator: RunningEmulator, project: Path
) -> None:
    emulator.control.edit(
        applied["Support-Desk"],
        {"endpointUrl": "https://support-eu.acme-crm.example/api/v3", "version": "1.4.1"},
    )
    result = run("drift", "--write-back")
    assert result.exit_code == 2, result.output
    assert (
        "endpointUrl is written as '${var:support_desk_url}/api/v3'; to adopt CXone's value "
        "set support_desk_url: 'https://support-eu.acme-crm.example' under "
        "environments.local.vars in cxrecon.yaml"
    ) in result.stdout
    after = (project / "connectors" / "support-desk.yaml").read_text()
    assert changed_lines(original("support-desk.yaml"), after) == [
        '-version: "1.4.0"',
        '+version: "1.4.1"',
    ]
    assert "endpointUrl: ${var:support_desk_url}/api/v3" in after


def test_credentials_drift_is_never_written_and_says_to_rotate(
    applied: dict[str, str], run: Run, emulator: RunningEmulator, project: Path
) -> None:
    emulator.control.edit(
        applied["Legacy-Tickets"],
        # As the CXone UI does it: a new type, its keys, and the old type's keys removed.
        {
            "authentication": {
                "type": "API_KEY",
                "credentials": {"apiKey": "CANARY-new-key", "username": None, "password": None},
            }
        },
    )
    result = run("drift", "--write-back")
    assert result.exit_code == 2, result.output
    assert "never written to git: rotate the secret in your secret store" in result.stdout
    assert "Wrote back nothing." in result.stdout
    assert (project / "connectors" / "legacy.yaml").read_text() == original("legacy.yaml")
    for secret in (API_KEY, PASSWORD, "CANARY-new-key"):
        assert secret not in result.output


def test_conflicting_change_is_left_for_a_hand_edit(
    applied: dict[str, str], run: Run, emulator: RunningEmulator, project: Path
) -> None:
    emulator.control.edit(applied["Legacy-Tickets"], {"version": "9.9.9"})
    path = project / "connectors" / "legacy.yaml"
    edited = original("legacy.yaml").replace("version: 2.0.0", "version: 2.1.0")
    path.write_text(edited)
    result = run("drift", "--write-back")
    assert result.exit_code == 2
    assert "changed in git as well since the last apply" in result.stdout
    assert path.read_text() == edited


def test_error_state_is_not_written_back(
    applied: dict[str, str], run: Run, emulator: RunningEmulator, project: Path
) -> None:
    emulator.control.edit(applied["Support-Desk"], {"lifecycleStatus": "ERROR"})
    result = run("drift", "--write-back")
    assert result.exit_code == 2
    assert "ERROR cannot be declared in git" in result.stdout
    assert (project / "connectors" / "support-desk.yaml").read_text() == original(
        "support-desk.yaml"
    )


def test_file_that_cannot_round_trip_is_left_untouched(
    applied: dict[str, str], run: Run, emulator: RunningEmulator, project: Path
) -> None:
    path = project / "connectors" / "legacy.yaml"
    # Valid YAML a round trip would normalize (extra spaces after the colon).
    odd = original("legacy.yaml").replace("version: 2.0.0", "version:    2.0.0")
    path.write_text(odd)
    emulator.control.edit(applied["Legacy-Tickets"], {"description": "Now described"})
    result = run("drift", "--write-back")
    assert result.exit_code == 2, result.output
    assert "cannot be edited without reformatting it" in result.stdout
    assert '"Now described"' in result.stdout
    assert path.read_text() == odd


def test_missing_sections_are_added_in_schema_order(
    applied: dict[str, str], run: Run, emulator: RunningEmulator, project: Path
) -> None:
    emulator.control.edit(
        applied["Legacy-Tickets"],
        {
            "description": "Audit: keep",
            "labels": {"team": "audit"},
            "syncSettings": {"batchSize": 50},
        },
    )
    result = run("drift", "--write-back")
    assert result.exit_code == 0, result.output
    after = (project / "connectors" / "legacy.yaml").read_text()
    assert changed_lines(original("legacy.yaml"), after) == [
        '+description: "Audit: keep"',
        "+syncSettings:",
        "+  batchSize: 50",
        "+labels:",
        "+  team: audit",
    ]
    assert after.index("description:") < after.index("lifecycleStatus:")
    assert after.index("syncSettings:") < after.index("version:") < after.index("labels:")
    assert run("plan", "--detailed-exitcode").exit_code == 0
