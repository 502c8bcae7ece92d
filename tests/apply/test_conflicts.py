"""Writes racing other writers: an out-of-band edit between plan and write is seen and
recorded; only what the plan showed is written, a field both sides changed fails the
connector, anything else is left as drift; lost responses never cause a duplicate."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import reconciler
from reconciler.apply.results import ConnectorResult, Outcome
from reconciler.plan.changes import Plan
from reconciler.plan.saved import read
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


def test_a_ui_edit_of_another_field_racing_the_apply_is_kept_and_reported_as_drift(
    project: Project, emulator: RunningEmulator
) -> None:
    doc = connector_doc("Alpha")
    project.write(doc)
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    project.write({**doc, "syncSettings": {"batchSize": 250}})
    cid = connector_id(emulator, "Alpha")

    def someone_edits_in_the_ui(plan: Plan) -> None:
        emulator.control.edit(cid, {"description": "from the UI"})

    plan, results = asyncio.run(apply_with_hook(project, emulator, someone_edits_in_the_ui))

    assert [f.path for f in plan.changes[0].fields] == ["syncSettings.batchSize"]
    (result,) = results
    assert (result.outcome, result.replans) == (Outcome.APPLIED, 1)
    (remote,) = remote_connectors(emulator.control)
    assert remote["syncSettings"]["batchSize"] == 250
    assert remote["description"] == "from the UI"  # not reviewed: never overwritten
    records = project.audit_records()
    conflict = next(r for r in records if r["action"] == "conflict")
    assert conflict["httpStatus"] in (409, 412)
    assert conflict["details"]["overwrites"] is None
    assert conflict["details"]["left"] == "description"
    written = records[-1]
    assert (written["action"], written["result"]) == ("update", "success")
    assert "description" not in written["fields"]
    drift = run_cli(["drift"])
    assert drift.exit_code == 2, drift.output
    assert "description" in drift.output


def test_a_field_both_sides_changed_fails_the_connector_and_keeps_the_ui_value(
    project: Project, emulator: RunningEmulator
) -> None:
    doc = connector_doc("Alpha")
    project.write(doc)
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    project.write({**doc, "endpointUrl": "https://git.crm.example/api"})
    cid = connector_id(emulator, "Alpha")
    writes = write_count(emulator.control)

    def someone_edits_the_same_field(plan: Plan) -> None:
        emulator.control.edit(
            cid, {"endpointUrl": "https://ui.crm.example/api", "description": "from the UI"}
        )

    _, results = asyncio.run(apply_with_hook(project, emulator, someone_edits_the_same_field))

    (result,) = results
    assert result.outcome is Outcome.FAILED
    assert "changed in CXone since the plan: endpointUrl" in (result.reason or "")
    (remote,) = remote_connectors(emulator.control)
    assert remote["endpointUrl"] == "https://ui.crm.example/api"
    assert remote["description"] == "from the UI"
    assert write_count(emulator.control) == writes + 1  # only the PATCH refused with 412
    conflict = next(r for r in project.audit_records() if r["action"] == "conflict")
    assert conflict["details"]["resolution"].startswith("refused: changed in CXone")


def test_a_saved_plan_never_reactivates_or_reverts_what_it_did_not_show(
    project: Project, emulator: RunningEmulator, tmp_path: Path
) -> None:
    doc = connector_doc("Alpha")
    project.write(doc)
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    project.write({**doc, "syncSettings": {"batchSize": 250}})
    saved_file = tmp_path / "plan.json"
    assert run_cli(["plan", "--out", str(saved_file)]).exit_code == 0
    cid = connector_id(emulator, "Alpha")

    def someone_edits_after_the_plan_was_verified(
        plan: Plan, approval: reconciler.facade.Approval
    ) -> None:
        assert approval.reviewed
        emulator.control.edit(cid, {"lifecycleStatus": "INACTIVE", "description": "from the UI"})

    async def apply_saved() -> tuple[Plan, tuple[ConnectorResult, ...]]:
        proj = reconciler.open_project(project.root)
        loaded = reconciler.load_desired(proj)
        settings = reconciler.ConnectionSettings.for_emulator(emulator.base_url)
        async with reconciler.connect(settings) as client:
            run = await reconciler.apply_desired(
                proj,
                client,
                loaded,
                secrets=reconciler.secrets_for(proj),
                saved=read(saved_file),
                hooks=reconciler.ApplyHooks(confirm=someone_edits_after_the_plan_was_verified),
            )
        return run.plan, run.report.results

    plan, results = asyncio.run(apply_saved())

    assert [f.path for f in plan.changes[0].fields] == ["syncSettings.batchSize"]
    (result,) = results
    assert result.outcome is Outcome.APPLIED
    (remote,) = remote_connectors(emulator.control)
    assert remote["syncSettings"]["batchSize"] == 250
    assert remote["lifecycleStatus"] == "INACTIVE"  # not re-activated
    assert remote["description"] == "from the UI"  # not reverted


def test_an_edit_that_already_reached_git_state_is_in_line_by_another_writer(
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
    # This run wrote nothing: "applied" counts this run's writes only (issue 23, break 8).
    assert result.outcome is Outcome.IN_LINE
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


def test_an_orphan_moved_in_the_ui_during_a_prune_is_a_conflict_not_overwritten(
    project: Project, emulator: RunningEmulator
) -> None:
    # Found by the convergence machine: the shown deactivation ACTIVE → INACTIVE was written
    # over a lifecycle someone had changed to DRAFT meanwhile.
    project.write(connector_doc("Alpha"))
    project.write(connector_doc("Zulu"))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    project.remove("Zulu")
    zulu = connector_id(emulator, "Zulu")

    def someone_moves_it_in_the_ui(plan: Plan, approval: reconciler.facade.Approval) -> None:
        emulator.control.edit(zulu, {"lifecycleStatus": "DRAFT"})

    async def prune_while_the_ui_moves_it() -> tuple[ConnectorResult, ...]:
        proj = reconciler.open_project(project.root)
        settings = reconciler.ConnectionSettings.for_emulator(emulator.base_url)
        async with reconciler.connect(settings) as client:
            run = await reconciler.apply_desired(
                proj,
                client,
                reconciler.load_desired(proj),
                secrets=reconciler.secrets_for(proj),
                options=reconciler.ApplyOptions(prune=True),
                hooks=reconciler.ApplyHooks(confirm=someone_moves_it_in_the_ui),
            )
        return run.report.results

    results = asyncio.run(prune_while_the_ui_moves_it())

    (result,) = [r for r in results if r.name == "Zulu"]
    assert result.outcome is Outcome.FAILED
    assert "changed in CXone since the plan: lifecycleStatus (ACTIVE → DRAFT)" in (
        result.reason or ""
    )
    remote = {c["name"]: c["lifecycleStatus"] for c in remote_connectors(emulator.control)}
    assert remote["Zulu"] == "DRAFT"


def test_after_a_narrowed_write_under_ignore_rules_a_later_ui_edit_reads_as_drift(
    project: Project, emulator: RunningEmulator
) -> None:
    # Found by the convergence machine: a write cut down after a conflict stamped the
    # applied-digest with the ignored fields in it, so later UI edits read as conflicts.
    (project.root / "cxrecon.yaml").write_text(
        "connectors: connectors/\n"
        "ignoreDifferences:\n"
        '  - connectors: ["*"]\n'
        '    fields: ["description", "mappings[*].transformation"]\n',
        encoding="utf-8",
    )
    doc = connector_doc("Alpha")
    project.write(doc)
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    project.write({**doc, "syncSettings": {"batchSize": 250}})
    cid = connector_id(emulator, "Alpha")

    def someone_edits_an_ignored_field(plan: Plan) -> None:
        emulator.control.edit(cid, {"description": "owned by the admins"})

    _, results = asyncio.run(apply_with_hook(project, emulator, someone_edits_an_ignored_field))
    (result,) = results
    assert (result.outcome, result.replans) == (Outcome.APPLIED, 1)
    (remote,) = remote_connectors(emulator.control)
    mappings = [{**m, "direction": "BIDIRECTIONAL"} for m in remote["mappings"]]
    emulator.control.edit(cid, {"mappings": mappings})

    planned = run_cli(["plan", "--format", "json"])

    assert planned.exit_code == 0, planned.output
    (change,) = json.loads(planned.output)["changes"]
    origins = {f["path"]: f["origin"] for f in change["fields"]}
    assert origins, change
    assert set(origins.values()) == {"drift"}, origins
