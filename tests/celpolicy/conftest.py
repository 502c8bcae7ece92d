"""Fixtures for policy tests: a project directory wired to an emulator over a real port."""

from __future__ import annotations

from pathlib import Path

import pytest
from apply.helpers import Project, connection_env

from reconciler.testing import RunningEmulator


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: RunningEmulator) -> Project:
    """An empty project in the working directory, its connection pointed at `emulator`."""
    root = tmp_path / "repo"
    (root / "connectors").mkdir(parents=True)
    monkeypatch.chdir(root)
    for name, value in connection_env(emulator.base_url).items():
        monkeypatch.setenv(name, value)
    for name in ("GITHUB_ACTOR", "GITHUB_SHA", "CI", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    return Project(root)
