"""Helpers for the reviewed-plan tests through the CLI: apply, save the plan a pull request
reviews, edit a connector as someone in the CXone UI would, apply the reviewed plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import Result

from reconciler.testing import RunningEmulator

from .helpers import Project, remote_connectors, run_cli


def by_name(emulator: RunningEmulator) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in remote_connectors(emulator.control)}


def applied(project: Project, *docs: dict[str, Any]) -> None:
    for doc in docs:
        project.write(doc)
    result = run_cli(["apply", "--auto-approve"])
    assert result.exit_code == 0, result.output


def reviewed_plan(project: Project) -> Path:
    saved = project.root / "reviewed.json"
    result = run_cli(["plan", "--out", str(saved)])
    assert result.exit_code == 0, result.output
    return saved


def ui_edit(emulator: RunningEmulator, name: str, fields: dict[str, Any]) -> None:
    emulator.control.edit(str(by_name(emulator)[name]["id"]), fields)


def apply_reviewed(saved: Path) -> Result:
    return run_cli(["apply", "--plan", str(saved), "--if-stale", "reviewed", "--auto-approve"])
