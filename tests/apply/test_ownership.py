"""Two projects (or two runs) on one tenant: each owns the connectors it applied, by the
`cxrecon.io/project` label; neither plans the other's as orphans, declaring the other's is
an error unless taken over on purpose, and two writers of one connector never mix."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

import reconciler
from reconciler.apply.results import Outcome
from reconciler.model import LABEL_PROJECT
from reconciler.plan.changes import Plan
from reconciler.testing import RunningEmulator

from .helpers import Project, connector_doc, remote_connectors, run_cli


@pytest.fixture
def teams(project: Project, monkeypatch: pytest.MonkeyPatch) -> tuple[Project, Project]:
    """Two projects side by side (ids `team-a` and `team-b`, from their cxrecon.yaml)."""
    a = Project(project.root.parent / "team-a")
    b = Project(project.root.parent / "team-b")
    for team, names in ((a, ("A1", "A2", "A3")), (b, ("B1", "B2"))):
        team.root.mkdir(parents=True, exist_ok=True)
        (team.root / "cxrecon.yaml").write_text(f"project: {team.root.name}\n", encoding="utf-8")
        for name in names:
            team.write(connector_doc(name))
        monkeypatch.chdir(team.root)
        assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    return a, b


def labels(emulator: RunningEmulator) -> dict[str, dict[str, Any]]:
    return {c["name"]: c["labels"] for c in remote_connectors(emulator.control)}


def test_each_project_labels_what_it_applies_and_never_plans_the_other_as_orphans(
    teams: tuple[Project, Project], emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = teams
    owners = {name: lbl[LABEL_PROJECT] for name, lbl in labels(emulator).items()}
    assert owners == {
        "A1": "team-a",
        "A2": "team-a",
        "A3": "team-a",
        "B1": "team-b",
        "B2": "team-b",
    }
    monkeypatch.chdir(a.root)

    result = run_cli(["plan", "--prune", "--format", "json", "--detailed-exitcode"])

    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["summary"]["orphan"] == 0
    assert document["summary"]["deactivate"] == 0
    assert document["safety"]["managed"] == 3


def test_declaring_another_projects_connector_is_an_error_unless_taken_over(
    teams: tuple[Project, Project], emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = teams
    a.write(connector_doc("B1"))
    monkeypatch.chdir(a.root)

    refused = run_cli(["apply", "--auto-approve"])

    assert refused.exit_code == 1
    assert "managed by project 'team-b'" in refused.output
    assert "--take-ownership" in refused.output
    assert labels(emulator)["B1"][LABEL_PROJECT] == "team-b"

    planned = run_cli(["plan", "--take-ownership"])
    assert "taken over from project team-b" in planned.output
    taken = run_cli(["apply", "--auto-approve", "--take-ownership"])

    assert taken.exit_code == 0, taken.output
    assert labels(emulator)["B1"][LABEL_PROJECT] == "team-a"
    records = [r for r in a.audit_records() if r["connector"] == "B1" and r["result"] == "success"]
    assert records[-1]["details"]["tookOwnershipFrom"] == "team-b"


def test_two_writers_of_one_connector_never_leave_it_mixed(
    project: Project, emulator: RunningEmulator
) -> None:
    """Writer 1 plans, writer 2 plans other values for the same fields and writes first:
    writer 1's write meets a stale ETag and fails loudly instead of overwriting writer 2."""
    doc = connector_doc("Alpha")
    project.write(doc)
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    project.write({**doc, "syncSettings": {"batchSize": 100}, "version": "1.1.0"})

    def the_other_writer_applies_first(plan: Plan) -> None:
        (cid,) = [c["id"] for c in remote_connectors(emulator.control)]
        emulator.control.edit(cid, {"syncSettings": {"batchSize": 900}, "version": "2.0.0"})

    async def writer() -> tuple[reconciler.ConnectorResult, ...]:
        proj = reconciler.open_project(project.root)
        settings = reconciler.ConnectionSettings.for_emulator(emulator.base_url)
        async with reconciler.connect(settings) as client:
            run = await reconciler.apply_desired(
                proj,
                client,
                reconciler.load_desired(proj),
                secrets=reconciler.secrets_for(proj),
                hooks=reconciler.ApplyHooks(
                    confirm=lambda plan, _: the_other_writer_applies_first(plan)
                ),
            )
        return run.report.results

    (result,) = asyncio.run(writer())

    assert result.outcome is Outcome.FAILED
    assert "changed in CXone since the plan" in (result.reason or "")
    (remote,) = remote_connectors(emulator.control)
    assert (remote["syncSettings"]["batchSize"], remote["version"]) == (900, "2.0.0")


def test_a_project_id_comes_from_cxrecon_yaml_or_cxrecon_project_never_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "CRM Integrations!"
    folder.mkdir()
    monkeypatch.delenv("CXRECON_PROJECT")
    assert reconciler.open_project(folder).project_id is None
    monkeypatch.setenv("CXRECON_PROJECT", "crm-ci")
    assert reconciler.open_project(folder).project_id == "crm-ci"
    (folder / "cxrecon.yaml").write_text("project: crm-core\n", encoding="utf-8")
    assert reconciler.open_project(folder).project_id == "crm-core"
