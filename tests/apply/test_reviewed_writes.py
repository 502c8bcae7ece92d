"""One rule for reviewed writes (issue 25), as a merge job meets it: `apply --plan FILE
--if-stale reviewed` writes a reviewed field CXone still holds as the review saw it, leaves a
field someone changed in the CXone UI since (it shows as drift afterwards), and holds a
connector where both sides changed the same field or git moved past the review.

Against the emulator over a real port, through the CLI; the same rule cuts a write down
after a 412 (tests/apply/test_conflicts.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import Result

from reconciler.testing import RunningEmulator

from .helpers import Project, connector_doc, run_cli, write_count
from .reviewing import applied, apply_reviewed, by_name, reviewed_plan, ui_edit

ALPHA = connector_doc("Alpha")


def reviewed(project: Project, **change: Any) -> Path:
    """Alpha applied, then `change` made in git and planned for review (`plan --out`)."""
    applied(project, ALPHA)
    project.write({**ALPHA, **change})
    return reviewed_plan(project)


def held_unwritten(result: Result, emulator: RunningEmulator, writes: int, reason: str) -> None:
    """The apply failed on Alpha, for `reason`, and wrote nothing."""
    assert result.exit_code == 1, result.output
    assert f"Alpha: differs from the reviewed plan ({reason})" in result.output
    assert write_count(emulator.control) == writes


def audit_writes(project: Project, name: str) -> list[dict[str, Any]]:
    return [
        r
        for r in project.audit_records()
        if r["connector"] == name and r.get("kind") != "note" and r["result"] == "success"
    ]


def test_a_reviewed_field_is_written_and_an_unrelated_ui_edit_is_left_as_drift(
    project: Project, emulator: RunningEmulator
) -> None:
    saved = reviewed(project, description="reviewed change")
    ui_edit(emulator, "Alpha", {"endpointUrl": "https://ui-edit.example/api"})

    result = apply_reviewed(saved)

    assert result.exit_code == 0, result.output
    assert "stale" in result.output
    assert "0 not reviewed (held, not applied)" in result.output
    assert "Alpha: changed in CXone since the review, left as it is (drift): endpointUrl" in (
        result.output
    )
    remote = by_name(emulator)["Alpha"]
    assert remote["description"] == "reviewed change"
    assert remote["endpointUrl"] == "https://ui-edit.example/api"
    written = [r for r in audit_writes(project, "Alpha") if r["action"] == "update"][-1]
    assert "description" in written["fields"]
    assert "endpointUrl" not in written["fields"]
    drift = run_cli(["drift"])
    assert drift.exit_code == 2, drift.output
    assert "endpointUrl" in drift.output
    (change,) = json.loads(run_cli(["plan", "--format", "json"]).output)["changes"]
    assert [(f["path"], f["origin"]) for f in change["fields"]] == [("endpointUrl", "drift")]


def test_a_field_both_sides_changed_is_held_and_nothing_is_written_to_that_connector(
    project: Project, emulator: RunningEmulator
) -> None:
    saved = reviewed(project, description="reviewed change", version="1.1.0")
    ui_edit(emulator, "Alpha", {"description": "someone else's text"})
    writes = write_count(emulator.control)

    result = apply_reviewed(saved)

    held_unwritten(result, emulator, writes, "changed in CXone since the review: description")
    remote = by_name(emulator)["Alpha"]
    assert remote["description"] == "someone else's text"
    assert remote["version"] == "1.0.0"  # reviewed, but the connector is held as a whole


def test_a_ui_edit_of_a_connector_the_review_did_not_change_is_left_not_held(
    project: Project, emulator: RunningEmulator
) -> None:
    applied(project, connector_doc("Beta"))
    saved = reviewed(project, description="reviewed change")
    # Alpha's edit makes the saved plan stale (Beta is not pinned: the plan leaves it alone).
    ui_edit(emulator, "Alpha", {"endpointUrl": "https://ui-edit.example/api"})
    ui_edit(emulator, "Beta", {"lifecycleStatus": "INACTIVE", "description": "paused in the UI"})
    beta_writes = len(audit_writes(project, "Beta"))

    result = apply_reviewed(saved)

    assert result.exit_code == 0, result.output
    assert (
        "Beta: changed in CXone since the review, left as it is (drift): description, "
        "lifecycleStatus"
    ) in result.output
    remote = by_name(emulator)
    assert remote["Alpha"]["description"] == "reviewed change"
    beta = (remote["Beta"]["lifecycleStatus"], remote["Beta"]["description"])
    assert beta == ("INACTIVE", "paused in the UI")
    assert len(audit_writes(project, "Beta")) == beta_writes
    drift = run_cli(["drift"])
    assert drift.exit_code == 2, drift.output
    assert "Beta" in drift.output


def test_a_commit_after_the_review_that_changes_another_field_holds_the_connector(
    project: Project, emulator: RunningEmulator
) -> None:
    saved = reviewed(project, description="reviewed change")
    project.write({**ALPHA, "description": "reviewed change", "version": "2.0.0"})
    ui_edit(emulator, "Alpha", {"endpointUrl": "https://ui-edit.example/api"})
    writes = write_count(emulator.control)

    result = apply_reviewed(saved)

    # The UI edit alone would be left; the commit nobody reviewed holds the connector.
    held_unwritten(result, emulator, writes, "not reviewed: version")
    assert by_name(emulator)["Alpha"]["description"] == ALPHA["description"]


def test_a_reviewed_value_git_changed_again_is_held(
    project: Project, emulator: RunningEmulator
) -> None:
    saved = reviewed(project, description="reviewed change")
    project.write({**ALPHA, "description": "changed again after the review"})
    ui_edit(emulator, "Alpha", {"endpointUrl": "https://ui-edit.example/api"})
    writes = write_count(emulator.control)

    result = apply_reviewed(saved)

    held_unwritten(result, emulator, writes, "differs: description")


def test_a_reviewed_activation_is_written_beside_a_ui_edit_of_a_mapping(
    project: Project, emulator: RunningEmulator
) -> None:
    applied(project, {**ALPHA, "lifecycleStatus": "INACTIVE"})
    project.write(ALPHA)
    saved = reviewed_plan(project)
    mappings = [{**m, "direction": "BIDIRECTIONAL"} for m in ALPHA["mappings"]]
    ui_edit(emulator, "Alpha", {"mappings": mappings})

    result = apply_reviewed(saved)

    assert result.exit_code == 0, result.output
    assert "= Alpha: activate, as reviewed" in result.output
    assert "left as it is (drift): mappings[case.external_id].direction" in result.output
    remote = by_name(emulator)["Alpha"]
    assert remote["lifecycleStatus"] == "ACTIVE"
    assert {m["direction"] for m in remote["mappings"]} == {"BIDIRECTIONAL"}
