"""`--emulator` keeps its database in `.cxrecon/emulator.sqlite`: a `.cxrecon`, database or
SQLite side file (`-wal`, `-shm`, `-journal`) committed as a link is refused in one line,
and nothing out of the project is created or changed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli.main import cli

CONNECTOR = """\
name: Alpha
lifecycleStatus: ACTIVE
connectorType: CUSTOM
endpointUrl: https://crm.acme.example/api
authentication:
  type: API_KEY
  credentials:
    apiKey: ${env:CRM_API_KEY}
mappings:
  - cxoneField: contact.external_id
    crmField: id
    direction: INBOUND
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    (root / "connectors").mkdir(parents=True)
    (root / "cxrecon.yaml").write_text("project: demo\n")
    (root / "connectors" / "alpha.yaml").write_text(CONNECTOR)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "notes.db").write_bytes(b"a user's database")
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def plan() -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["plan", "--emulator", "--no-cache"])
    return result.exit_code, result.stderr


def test_the_emulator_runs_with_its_state_in_dot_cxrecon(project: Path) -> None:
    code, _ = plan()
    assert code == 0
    assert (project / ".cxrecon" / "emulator.sqlite").is_file()


def test_a_linked_dot_cxrecon_is_refused(project: Path, outside: Path) -> None:
    os.symlink(outside, project / ".cxrecon")
    before = snapshot(outside)
    code, err = plan()
    assert code == 1
    assert err.count("\n") == 1
    assert ".cxrecon is a symbolic link" in err
    assert snapshot(outside) == before


@pytest.mark.parametrize(
    "name", ["emulator.sqlite", *(f"emulator.sqlite{s}" for s in ("-wal", "-shm", "-journal"))]
)
@pytest.mark.parametrize("dangling", [False, True])
def test_a_linked_database_or_side_file_is_refused(
    project: Path, outside: Path, name: str, dangling: bool
) -> None:
    (project / ".cxrecon").mkdir()
    target = outside / ("missing" if dangling else "notes.db")
    os.symlink(target, project / ".cxrecon" / name)
    before = snapshot(outside)
    code, err = plan()
    assert code == 1
    assert err.count("\n") == 1
    assert f"{name} is a symbolic link" in err
    assert snapshot(outside) == before
