"""cxrecon's own state (the audit log, the embedded emulator's database, the cache) lives in
`.cxrecon/` next to cxrecon.yaml, wherever in the project a command is run from: a run from
`connectors/` must not start a second, empty emulator or a second audit log there."""

from __future__ import annotations

import pytest

from .helpers import Project, connector_doc, run_cli


def test_state_is_kept_at_the_project_root_from_a_subdirectory(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project.root / "cxrecon.yaml").write_text("connectors: connectors/\n", encoding="utf-8")
    project.write(connector_doc("Alpha"))
    monkeypatch.chdir(project.root / "connectors")

    applied = run_cli(["apply", "--emulator", "--auto-approve"])

    assert applied.exit_code == 0, applied.output
    state = project.root / ".cxrecon"
    assert (state / "audit.jsonl").is_file()
    assert (state / "emulator.sqlite").is_file()
    assert not (project.root / "connectors" / ".cxrecon").exists()

    monkeypatch.chdir(project.root)
    planned = run_cli(["plan", "--emulator", "--detailed-exitcode"])
    assert planned.exit_code == 0, planned.output  # the same emulator: nothing to do
    assert planned.output.startswith("No changes.")


def test_an_explicit_audit_log_is_taken_as_given(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project.root / "cxrecon.yaml").write_text("connectors: connectors/\n", encoding="utf-8")
    project.write(connector_doc("Alpha"))
    monkeypatch.chdir(project.root / "connectors")

    applied = run_cli(["apply", "--emulator", "--auto-approve", "--audit-log", "here.jsonl"])

    assert applied.exit_code == 0, applied.output
    assert (project.root / "connectors" / "here.jsonl").is_file()
    assert not (project.root / ".cxrecon" / "audit.jsonl").exists()
