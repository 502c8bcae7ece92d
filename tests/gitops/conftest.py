"""Fixtures for the GitOps commands: a copied connectors repository as the working
directory, the CLI run against the emulator on a real port, and applied state."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reconciler.cli.main import cli
from reconciler.testing import RunningEmulator

from .helpers import PROJECT, Run, cli_env, remote_ids


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture repository (cxrecon.yaml + connectors/) as the working directory."""
    root = tmp_path / "repo"
    shutil.copytree(PROJECT, root)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def run(emulator: RunningEmulator) -> Run:
    """`run("drift", "--format", "json")`: the CLI against this test's emulator."""

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=cli_env(emulator))

    return invoke


@pytest.fixture
def applied(project: Path, emulator: RunningEmulator, run: Run) -> dict[str, str]:
    """The fixture connectors applied by `cxrecon apply`; name → connector id."""
    result = run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    return remote_ids(emulator)
