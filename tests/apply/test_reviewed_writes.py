"""One rule for reviewed writes (issue 25), as a merge job meets it: `apply --plan FILE
--if-stale reviewed` writes a reviewed field CXone still holds as the review saw it, leaves a
field someone changed in the CXone UI since (it shows as drift afterwards), and holds a
connector where both sides changed the same field or git moved past the review.

Against the emulator over a real port, through the CLI; the same rule cuts a write down
after a 412 (tests/apply/test_conflicts.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import Result

from reconciler.apply.results import Outcome
from reconciler.testing import RunningEmulator

from .helpers import (
    CANARY_ENV,
    CANARY_KEY,
    Project,
    apply_with_hook,
    connector_doc,
    run_cli,
    write_count,
)
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


def recreated_copy(emulator: RunningEmulator, name: str) -> str:
    """Delete `name` in CXone and create it again with the same name, fields and labels (a
    person re-creating it by hand, or restoring an export); the new connector's id."""
    old = by_name(emulator)[name]
    emulator.control.delete(str(old["id"]))
    server_set = ("id", "etag", "createdTime", "lastModifiedTime")
    body = {k: v for k, v in old.items() if k not in server_set}
    body["authentication"] = {
        "type": "API_KEY",
        "credentials": {"apiKey": "CANARY-9f3e", "headerName": "X-Api-Key"},
    }
    return str(emulator.control.seed(body)["id"])


def test_a_connector_deleted_and_recreated_with_the_same_name_since_the_review_is_held(
    project: Project, emulator: RunningEmulator
) -> None:
    saved = reviewed(project, description="reviewed change")
    old_id = by_name(emulator)["Alpha"]["id"]
    new_id = recreated_copy(emulator, "Alpha")
    writes = write_count(emulator.control)

    result = apply_reviewed(saved)

    # The review changed connector old_id; the one under that name now nobody reviewed.
    why = f"deleted and re-created in CXone since the review: {old_id} is now {new_id}"
    held_unwritten(result, emulator, writes, why)
    assert by_name(emulator)["Alpha"]["description"] == ALPHA["description"]
    assert "CANARY-9f3e" not in result.output + project.audit_log.read_text()


def raced(project: Project, emulator: RunningEmulator, edit: Callable[[str], Any]) -> Any:
    """Alpha applied, a description change planned and shown, `edit(id)` made in CXone
    before it is written (the 412 that follows narrows the write: apply.narrow)."""
    applied(project, ALPHA)
    project.write({**ALPHA, "description": "reviewed change"})
    cid = str(by_name(emulator)["Alpha"]["id"])
    _, (result,) = asyncio.run(apply_with_hook(project, emulator, lambda _plan: edit(cid)))
    return result


def test_a_connector_another_project_took_over_during_the_apply_is_not_written(
    project: Project, emulator: RunningEmulator
) -> None:
    def taken_over(cid: str) -> None:
        emulator.control.edit(cid, {"labels": {"cxrecon.io/project": "someone-else"}})

    result = raced(project, emulator, taken_over)

    assert result.outcome is Outcome.FAILED
    assert result.name == "Alpha"
    assert "cxrecon.io/project" in str(result.reason)
    remote = by_name(emulator)["Alpha"]
    assert remote["labels"]["cxrecon.io/project"] == "someone-else"
    assert remote["description"] == ALPHA["description"]


def test_a_connector_unmanaged_in_cxone_during_the_apply_is_not_written(
    project: Project, emulator: RunningEmulator
) -> None:
    def unmanaged(cid: str) -> None:
        emulator.control.edit(cid, {"labels": {"managed-by": None, "cxrecon.io/project": None}})

    result = raced(project, emulator, unmanaged)

    assert result.outcome is Outcome.FAILED
    assert "managed-by" in str(result.reason)
    remote = by_name(emulator)["Alpha"]
    assert "managed-by" not in remote["labels"]
    assert remote["description"] == ALPHA["description"]


def test_a_connector_renamed_in_cxone_during_the_apply_is_not_written(
    project: Project, emulator: RunningEmulator
) -> None:
    result = raced(project, emulator, lambda cid: emulator.control.edit(cid, {"name": "Renamed"}))

    assert result.outcome is Outcome.FAILED
    assert "renamed in CXone since the plan: Alpha → Renamed" in str(result.reason)
    assert by_name(emulator)["Renamed"]["description"] == ALPHA["description"]


def test_a_connector_recreated_in_cxone_during_the_apply_is_not_written(
    project: Project, emulator: RunningEmulator
) -> None:
    result = raced(project, emulator, lambda _cid: recreated_copy(emulator, "Alpha"))

    assert result.outcome is Outcome.FAILED
    assert "deleted and re-created in CXone since the plan" in str(result.reason)
    assert by_name(emulator)["Alpha"]["description"] == ALPHA["description"]
    assert "CANARY-9f3e" not in project.audit_log.read_text()


def test_our_own_rename_whose_response_was_lost_is_not_taken_for_a_rename_in_cxone(
    project: Project, emulator: RunningEmulator
) -> None:
    applied(project, ALPHA)
    project.remove("Alpha")
    project.write({**ALPHA, "name": "Alpha2", "previousNames": ["Alpha"]})
    emulator.control.faults(next=[{"kind": "drop", "method": "PATCH"}])

    result = run_cli(["apply", "--auto-approve"])

    assert result.exit_code == 0, result.output
    assert emulator.control.stats()["faults"].get("drop") == 1
    assert set(by_name(emulator)) == {"Alpha2"}


def test_our_own_take_over_whose_response_was_lost_is_not_taken_for_another_owner(
    project: Project, emulator: RunningEmulator
) -> None:
    seeded = {**ALPHA, "labels": {"team": "tests", "managed-by": "cxrecon"}}
    seeded["labels"]["cxrecon.io/project"] = "team-b"
    seeded["authentication"] = {
        "type": "API_KEY",
        "credentials": {"apiKey": "CANARY-9f3e", "headerName": "X-Api-Key"},
    }
    emulator.control.seed(seeded)
    project.write({**ALPHA, "description": "taken over"})
    emulator.control.faults(next=[{"kind": "drop", "method": "PATCH"}])

    result = run_cli(["apply", "--auto-approve", "--take-ownership"])

    assert result.exit_code == 0, result.output
    assert emulator.control.stats()["faults"].get("drop") == 1
    remote = by_name(emulator)["Alpha"]
    assert (remote["description"], remote["labels"]["cxrecon.io/project"]) == (
        "taken over",
        "cxrecon-tests",
    )


def test_a_connector_held_for_its_credentials_names_only_what_holds_it(
    project: Project, emulator: RunningEmulator
) -> None:
    saved = reviewed(project, description="reviewed change")
    swapped = {"apiKey": "${env:OTHER_KEY}", "headerName": "X-Api-Key"}
    auth = {"type": "API_KEY", "credentials": swapped}
    project.write({**ALPHA, "description": "reviewed change", "authentication": auth})
    ui_edit(emulator, "Alpha", {"version": "5.0.0"})  # left alone; not why it is held
    writes = write_count(emulator.control)

    result = apply_reviewed(saved)

    why = "credentials differ: apiKey ${env:" + CANARY_ENV + "} → ${env:OTHER_KEY}"
    held_unwritten(result, emulator, writes, why)
    assert CANARY_KEY not in result.output + project.audit_log.read_text()
