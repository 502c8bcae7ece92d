"""Writes racing other writers: an out-of-band edit between plan and write is seen, recorded
and only then overwritten with git's value; lost responses never cause a duplicate."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from reconciler.apply.executor import Outcome
from reconciler.plan.changes import Plan
from reconciler.testing import RunningEmulator

from .helpers import (
    Project,
    apply_with_hook,
    connector_doc,
    remote_connectors,
    run_cli,
    write_count,
)


def connector_id(emulator: RunningEmulator, name: str) -> str:
    return next(str(c["id"]) for c in remote_connectors(emulator.control) if c["name"] == name)


def test_an_edit_racing_the_apply_is_seen_recorded_then_overwritten_by_git(
    project: Project, emulator: RunningEmulator
) -> None:
    doc = connector_doc("Alpha")
    project.write(doc)
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    project.write({**doc, "endpointUrl": "https://git.crm.example/api"})
    cid = connector_id(emulator, "Alpha")

    def someone_edits_in_the_ui(plan: Plan) -> None:
        emulator.control.edit(
            cid, {"endpointUrl": "https://ui.crm.example/api", "description": "from the UI"}
        )

    _, results = asyncio.run(apply_with_hook(project, emulator, someone_edits_in_the_ui))

    (result,) = results
    assert (result.outcome, result.replans) == (Outcome.APPLIED, 1)
    (remote,) = remote_connectors(emulator.control)
    assert remote["endpointUrl"] == "https://git.crm.example/api"
    assert remote["description"] == doc["description"]
    records = project.audit_records()
    conflict = next(r for r in records if r["action"] == "conflict")
    assert conflict["httpStatus"] in (409, 412)
    observed = {o["path"]: (o["seen"], o["found"]) for o in conflict["outOfBand"]}
    assert observed == {
        "endpointUrl": (doc["endpointUrl"], "https://ui.crm.example/api"),
        "description": (doc["description"], "from the UI"),
    }
    assert conflict["details"]["overwrites"] == "description, endpointUrl"
    # The failed write, the conflict, then the write made after seeing the other change.
    tail = [(r["action"], r["result"]) for r in records[-3:]]
    assert tail == [("update", "failure"), ("conflict", "conflict"), ("update", "success")]
    assert records[-1]["etagBefore"] == conflict["etagAfter"]


def test_an_edit_that_already_reached_git_state_counts_as_applied_without_a_write(
    project: Project, emulator: RunningEmulator
) -> None:
    doc = connector_doc("Alpha")
    project.write(doc)
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    project.write({**doc, "description": "new text"})
    cid = connector_id(emulator, "Alpha")
    writes = write_count(emulator.control)

    def someone_makes_the_same_change(plan: Plan) -> None:
        emulator.control.edit(cid, {"description": "new text"})

    _, results = asyncio.run(apply_with_hook(project, emulator, someone_makes_the_same_change))

    (result,) = results
    assert result.outcome is Outcome.APPLIED
    assert result.writes == 0
    # Only the rejected PATCH reached the server; nothing was written after re-reading.
    assert write_count(emulator.control) == writes + 1
    conflict = next(r for r in project.audit_records() if r["action"] == "conflict")
    assert conflict["details"]["resolution"] == "already in the desired state"


def test_a_patch_whose_response_is_lost_is_not_applied_twice(
    project: Project, emulator: RunningEmulator
) -> None:
    doc = connector_doc("Alpha")
    project.write(doc)
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    project.write({**doc, "description": "after a dropped response"})
    emulator.control.faults(next=[{"kind": "drop", "method": "PATCH"}])

    result = run_cli(["apply", "--auto-approve"])

    assert result.exit_code == 0, result.output
    assert emulator.control.stats()["faults"].get("drop") == 1
    (remote,) = remote_connectors(emulator.control)
    assert remote["description"] == "after a dropped response"
    conflict = [r for r in project.audit_records() if r["action"] == "conflict"]
    assert [c["details"]["resolution"] for c in conflict] == ["already in the desired state"]
    assert conflict[0]["outOfBand"][0]["path"] == "description"


def test_a_create_whose_response_is_lost_makes_no_duplicate(
    project: Project, emulator: RunningEmulator
) -> None:
    project.write(connector_doc("Alpha"))
    emulator.control.faults(
        next=[{"kind": "drop", "method": "POST", "path": "/api/v2/crm/connectors"}]
    )

    result = run_cli(["apply", "--auto-approve"])

    assert result.exit_code == 0, result.output
    assert emulator.control.stats()["faults"].get("drop") == 1
    remote = remote_connectors(emulator.control)
    assert [(c["name"], c["lifecycleStatus"]) for c in remote] == [("Alpha", "ACTIVE")]
    writes = write_count(emulator.control)
    again = run_cli(["apply", "--auto-approve"])
    assert "No changes" in again.output
    assert write_count(emulator.control) == writes


def test_pruning_deactivates_a_connector_removed_from_git(
    project: Project, emulator: RunningEmulator, tmp_path: Path
) -> None:
    project.write(connector_doc("Alpha", lifecycleStatus="INACTIVE"))
    project.write(connector_doc("Beta"))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    project.remove("Alpha")
    project.remove("Beta")

    kept = run_cli(["apply", "--auto-approve"])
    assert kept.exit_code == 0, kept.output
    assert {c["lifecycleStatus"] for c in remote_connectors(emulator.control)} == {
        "INACTIVE",
        "ACTIVE",
    }

    pruned = run_cli(["apply", "--auto-approve", "--prune", "--allow-unsafe"])

    assert pruned.exit_code == 0, pruned.output
    remote = {c["name"]: c["lifecycleStatus"] for c in remote_connectors(emulator.control)}
    assert remote == {"Alpha": "INACTIVE", "Beta": "INACTIVE"}


def test_a_pruned_connector_put_back_in_git_is_a_pending_change_not_drift(
    project: Project, emulator: RunningEmulator
) -> None:
    project.write(connector_doc("Beta"))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    project.remove("Beta")
    assert run_cli(["apply", "--auto-approve", "--prune", "--allow-unsafe"]).exit_code == 0
    project.write(connector_doc("Beta"))

    plan = run_cli(["plan", "--format", "json"])
    drift = run_cli(["drift"])

    (change,) = json.loads(plan.output)["changes"]
    assert (change["action"], change["origin"]) == ("activate", "pending")
    assert drift.exit_code == 0, drift.output
