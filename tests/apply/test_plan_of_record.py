"""The reviewed plan is the plan of record (issue 14): `apply --plan FILE --if-stale
reviewed` applies what was reviewed, holds what git or both sides changed since, leaves
CXone's unrelated edits as drift (issue 25), a saved plan cannot carry content of its own,
and an approval over the safety gate covers the reviewed plan only.

Against the emulator over a real port, through the CLI a merge job runs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from reconciler.plan.saved import checksum
from reconciler.testing import RunningEmulator

from .helpers import Project, connector_doc, run_cli, write_count
from .reviewing import applied, by_name, reviewed_plan


def test_a_saved_plan_cannot_write_what_git_does_not_hold(
    project: Project, emulator: RunningEmulator
) -> None:
    alpha = connector_doc("Alpha")
    applied(project, alpha)
    project.write({**alpha, "description": "reviewed change"})
    saved = reviewed_plan(project)
    # Whoever produced the artifact rewrote the connector inside it and fixed the checksum.
    doc = json.loads(saved.read_text())
    doc["connectors"][0]["desired"]["spec"]["endpointUrl"] = "https://attacker.example/x"
    doc["connectors"][0]["desired"]["spec"]["description"] = "forged"
    doc["checksum"] = checksum(doc)
    saved.write_text(json.dumps(doc))
    writes = write_count(emulator.control)

    result = run_cli(["apply", "--plan", str(saved)])

    assert result.exit_code == 1
    assert "Alpha" in result.output
    assert "not what git holds" in result.output
    assert write_count(emulator.control) == writes
    assert by_name(emulator)["Alpha"]["endpointUrl"] == alpha["endpointUrl"]


def test_a_fresh_reviewed_plan_is_applied_exactly(
    project: Project, emulator: RunningEmulator
) -> None:
    alpha = connector_doc("Alpha")
    applied(project, alpha, connector_doc("Beta"), connector_doc("Gamma"))
    project.write({**alpha, "description": "reviewed change"})
    saved = reviewed_plan(project)

    result = run_cli(["apply", "--plan", str(saved), "--if-stale", "reviewed"])

    assert result.exit_code == 0, result.output
    assert "stale" not in result.output
    # The summary counts what the reviewed plan counted, unchanged connectors included.
    assert "Plan: 1 to update, 2 unchanged." in result.output
    assert "Compared with the reviewed plan" not in result.output
    assert by_name(emulator)["Alpha"]["description"] == "reviewed change"


def test_after_git_moved_on_only_the_reviewed_changes_are_applied(
    project: Project, emulator: RunningEmulator
) -> None:
    alpha, beta = connector_doc("Alpha"), connector_doc("Beta")
    applied(project, alpha, beta)
    project.write({**alpha, "description": "reviewed change"})
    saved = reviewed_plan(project)
    # Another commit reached main before the merge: nobody reviewed it in this plan.
    project.write({**beta, "description": "not reviewed here"})
    beta_writes = len([r for r in project.audit_records() if r["connector"] == "Beta"])

    result = run_cli(["apply", "--plan", str(saved), "--if-stale", "reviewed", "--auto-approve"])

    assert result.exit_code == 1, result.output
    assert "1 as reviewed (applied), 1 not reviewed (held, not applied)" in result.output
    assert "Beta: not in the reviewed plan: update: description" in result.output
    remote = by_name(emulator)
    assert remote["Alpha"]["description"] == "reviewed change"
    assert remote["Beta"]["description"] == beta["description"]
    assert len([r for r in project.audit_records() if r["connector"] == "Beta"]) == beta_writes


def test_a_ui_edit_after_the_review_is_left_not_reverted(
    project: Project, emulator: RunningEmulator
) -> None:
    # Issue 25: the reviewed field is written, the unrelated UI edit left as drift (before,
    # the whole connector was held: "1 held (not as reviewed)").
    alpha = connector_doc("Alpha")
    applied(project, alpha)
    project.write({**alpha, "description": "reviewed change"})
    saved = reviewed_plan(project)
    alpha_id = str(by_name(emulator)["Alpha"]["id"])
    emulator.control.edit(alpha_id, {"endpointUrl": "https://ui-edit.example/api"})

    result = run_cli(["apply", "--plan", str(saved), "--if-stale", "reviewed", "--auto-approve"])

    assert result.exit_code == 0, result.output
    assert "stale" in result.output
    assert "Alpha: changed in CXone since the review, left as it is (drift): endpointUrl" in (
        result.output
    )
    assert "Plan: 1 to update, 0 unchanged." in result.output
    assert by_name(emulator)["Alpha"]["endpointUrl"] == "https://ui-edit.example/api"
    assert by_name(emulator)["Alpha"]["description"] == "reviewed change"


def test_a_reviewed_field_changed_in_the_ui_after_the_review_is_held_and_named(
    project: Project, emulator: RunningEmulator
) -> None:
    alpha = connector_doc("Alpha")
    applied(project, alpha)
    project.write({**alpha, "description": "reviewed change"})
    saved = reviewed_plan(project)
    alpha_id = str(by_name(emulator)["Alpha"]["id"])
    emulator.control.edit(alpha_id, {"description": "someone else's text"})
    writes = write_count(emulator.control)

    result = run_cli(["apply", "--plan", str(saved), "--if-stale", "reviewed", "--auto-approve"])

    assert result.exit_code == 1, result.output
    assert "(changed in CXone since the review: description)" in result.output
    assert write_count(emulator.control) == writes
    assert by_name(emulator)["Alpha"]["description"] == "someone else's text"


def test_a_reviewed_change_no_longer_needed_is_said_and_not_a_failure(
    project: Project, emulator: RunningEmulator
) -> None:
    alpha, beta = connector_doc("Alpha"), connector_doc("Beta")
    applied(project, alpha, beta)
    project.write({**alpha, "description": "reviewed change"})
    project.write({**beta, "description": "also reviewed"})
    saved = reviewed_plan(project)
    project.write(beta)  # git took Beta's change back before the merge

    result = run_cli(["apply", "--plan", str(saved), "--if-stale", "reviewed", "--auto-approve"])

    assert result.exit_code == 0, result.output
    assert "Beta: reviewed, no longer needed" in result.output
    assert by_name(emulator)["Alpha"]["description"] == "reviewed change"


def test_an_approval_over_the_gate_does_not_carry_to_an_unreviewed_replan(
    project: Project, emulator: RunningEmulator
) -> None:
    alpha, beta = connector_doc("Alpha"), connector_doc("Beta")
    applied(project, alpha, beta)
    project.write({**alpha, "description": "reviewed change"})
    saved = reviewed_plan(project)
    # After the review, git also deactivates Beta: over the gate, and never reviewed.
    project.write({**beta, "lifecycleStatus": "INACTIVE"})
    writes = write_count(emulator.control)

    replanned = run_cli(
        ["apply", "--plan", str(saved), "--replan", "--auto-approve", "--allow-unsafe"]
    )

    assert replanned.exit_code == 1
    assert "--allow-unsafe approved the saved plan, not this one" in replanned.output
    assert write_count(emulator.control) == writes


def test_an_approval_over_the_gate_carries_to_the_reviewed_changes(
    project: Project, emulator: RunningEmulator
) -> None:
    alpha, beta = connector_doc("Alpha"), connector_doc("Beta")
    applied(project, alpha, beta)
    project.write({**alpha, "lifecycleStatus": "INACTIVE"})  # over the gate, reviewed
    saved = reviewed_plan(project)
    gated = run_cli(["plan", "--detailed-exitcode"])
    assert gated.exit_code == 3, gated.output
    project.write({**beta, "description": "not reviewed here"})

    result = run_cli(["apply", "--plan", str(saved), "--if-stale", "reviewed", "--allow-unsafe"])

    assert result.exit_code == 1, result.output  # Beta held
    remote = by_name(emulator)
    assert remote["Alpha"]["lifecycleStatus"] == "INACTIVE"
    assert remote["Beta"]["description"] == beta["description"]


def test_if_stale_needs_a_saved_plan(project: Project) -> None:
    result = run_cli(["apply", "--if-stale", "reviewed", "--auto-approve"])

    assert result.exit_code == 2
    assert "need a saved plan" in result.output


def forge(saved: Path, change: Any) -> None:
    """Edit a saved plan and sign it again: the checksum is no key (anyone can recompute it)."""
    doc = json.loads(saved.read_text())
    change(doc)
    doc["checksum"] = checksum(doc)
    saved.write_text(json.dumps(doc))


def test_the_safety_gate_is_judged_again_not_taken_from_the_file(
    project: Project, emulator: RunningEmulator
) -> None:
    alpha = connector_doc("Alpha")
    applied(project, alpha, connector_doc("Beta"))
    project.write({**alpha, "lifecycleStatus": "INACTIVE"})  # over the gate
    saved = reviewed_plan(project)
    forge(saved, lambda doc: doc["plan"]["safety"].update(over=False, reasons=[]))
    writes = write_count(emulator.control)

    result = run_cli(["apply", "--plan", str(saved)])

    assert result.exit_code == 1, result.output
    assert "safety gate" in result.output
    assert write_count(emulator.control) == writes


def test_a_plan_made_with_prune_is_not_applied_without_it(
    project: Project, emulator: RunningEmulator
) -> None:
    applied(project, connector_doc("Alpha"), connector_doc("Beta", lifecycleStatus="INACTIVE"))
    project.remove("Beta")
    saved = project.root / "pruned.json"
    assert run_cli(["plan", "--prune", "--out", str(saved)]).exit_code == 0
    writes = write_count(emulator.control)

    refused = run_cli(["apply", "--plan", str(saved)])

    assert refused.exit_code == 1
    assert "planned with --prune" in refused.output
    assert write_count(emulator.control) == writes


def test_a_plan_for_another_environment_is_refused(
    project: Project, emulator: RunningEmulator
) -> None:
    (project.root / "cxrecon.yaml").write_text(
        "connectors: connectors/\ndefaultEnvironment: sandbox\n"
        "environments:\n  sandbox: {}\n  production: {}\n",
        encoding="utf-8",
    )
    alpha = connector_doc("Alpha")
    project.write(alpha)
    # A write to a project of several environments names its own (issue 24).
    assert run_cli(["apply", "-e", "sandbox", "--auto-approve"]).exit_code == 0
    project.write({**alpha, "description": "for sandbox"})
    saved = project.root / "sandbox.json"
    assert run_cli(["plan", "-e", "sandbox", "--out", str(saved)]).exit_code == 0
    writes = write_count(emulator.control)

    refused = run_cli(["apply", "-e", "production", "--plan", str(saved), "--auto-approve"])

    assert refused.exit_code == 1
    assert "planned for environment sandbox, not production" in refused.output
    assert write_count(emulator.control) == writes


def test_a_saved_plan_that_is_no_file_or_hostile_is_a_clear_error(project: Project) -> None:
    fifo = project.root / "fifo.json"
    os.mkfifo(fifo)
    deep = project.root / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    for path, expected in ((fifo, "not a regular file"), (deep, "nested too deeply")):
        result = run_cli(["apply", "--plan", str(path)])
        assert result.exit_code == 1, (path, result.output)
        assert expected in result.output
        assert "Traceback" not in result.output
