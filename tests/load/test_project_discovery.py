"""Git-style discovery of cxrecon.yaml: from a subdirectory, `cxrecon` finds the project file
in the working directory or a parent (stopping at the filesystem root, or at the top of a
git repository after checking it), and paths are relative to the folder that holds it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli.main import cli
from reconciler.config.project import find_project_file, load_project

from .inputs import connector_yaml

PROJECT = """\
connectors: connectors/
defaultEnvironment: local
environments:
  local:
    vars:
      crm_url: https://crm.acme.example
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A connectors repository: .git, cxrecon.yaml, connectors/ with one file in a subfolder."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "cxrecon.yaml").write_text(PROJECT, encoding="utf-8")
    folder = root / "connectors" / "crm"
    folder.mkdir(parents=True)
    (folder / "one.yaml").write_text(
        connector_yaml("Found-From-Below", endpoint="${var:crm_url}/api"), encoding="utf-8"
    )
    return root


@pytest.mark.parametrize("below", ["", "connectors", "connectors/crm"])
def test_the_project_file_is_found_from_the_working_directory_or_a_parent(
    repo: Path, below: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo / below)
    project = load_project()
    assert project.root == repo.resolve()
    assert project.file == repo.resolve() / "cxrecon.yaml"
    assert project.connectors_path == repo.resolve() / "connectors"
    assert project.environment(None).vars["crm_url"] == "https://crm.acme.example"


def test_validate_runs_from_the_connectors_directory(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo / "connectors")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 0, result.output
    assert "1 connector in 1 file: valid" in result.stdout


def test_discovery_stops_at_the_top_of_a_git_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cxrecon.yaml above the repository belongs to something else.
    (tmp_path / "cxrecon.yaml").write_text(PROJECT, encoding="utf-8")
    inner = tmp_path / "other-repo"
    (inner / ".git").mkdir(parents=True)
    (inner / "sub").mkdir()
    monkeypatch.chdir(inner / "sub")
    assert find_project_file(Path.cwd()) is None
    project = load_project()
    assert project.file is None
    assert project.root == (inner / "sub").resolve()
    assert project.connectors_path == (inner / "sub").resolve() / "connectors"


def test_a_git_file_also_marks_the_top_of_a_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Worktrees and submodules have a `.git` file, not a folder.
    (tmp_path / "cxrecon.yaml").write_text(PROJECT, encoding="utf-8")
    worktree = tmp_path / "worktree"
    worktree.mkdir()
    (worktree / ".git").write_text("gitdir: ../elsewhere\n", encoding="utf-8")
    monkeypatch.chdir(worktree)
    assert load_project().file is None


def test_without_any_project_file_the_working_directory_is_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    project = load_project()
    assert (project.file, project.root) == (None, tmp_path.resolve())


def test_a_folder_named_cxrecon_yaml_is_not_a_project_file(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = repo / "connectors" / "odd"
    (odd / "cxrecon.yaml").mkdir(parents=True)
    monkeypatch.chdir(odd)
    assert load_project().file == repo.resolve() / "cxrecon.yaml"


def test_an_explicit_root_is_not_searched_upwards(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    project = load_project(repo / "connectors")
    assert project.file is None
    assert project.root == (repo / "connectors").resolve()
    assert project.connectors_path == (repo / "connectors" / "connectors").resolve()
