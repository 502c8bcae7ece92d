"""Fixtures for controller tests: a connectors repository with a bare "origin" to pull from,
and controllers wired to an emulator on a real port."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.config.settings import ConnectionSettings
from reconciler.controller.backoff import BackoffPolicy
from reconciler.controller.loop import Controller
from reconciler.controller.report import ControllerOptions
from reconciler.testing import RunningEmulator

from .helpers import ENVIRON, ConnectorsRepo, ControllerFactory, FakeClock, connector_yaml, git


@pytest.fixture
def repo(tmp_path: Path) -> ConnectorsRepo:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    author = tmp_path / "author"
    git(tmp_path, "clone", "-q", str(origin), str(author))
    # The identity lives in the repository (issue 24): every clone of it is the same project.
    (author / "cxrecon.yaml").write_text("project: controller-tests\nconnectors: connectors/\n")
    (author / "connectors").mkdir()
    (author / "connectors" / "alpha.yaml").write_text(connector_yaml("Alpha"))
    git(author, "add", "-A")
    git(author, "commit", "-q", "-m", "initial connectors")
    git(author, "push", "-q", "origin", "HEAD:main")
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", "--branch", "main", str(origin), str(checkout))
    return ConnectorsRepo(origin, checkout, author)


@pytest.fixture
def make_controller(
    emulator: RunningEmulator, repo: ConnectorsRepo, tmp_path: Path
) -> ControllerFactory:
    def make(
        *,
        clock: FakeClock | None = None,
        environ: dict[str, str] | None = None,
        backoff: BackoffPolicy | None = None,
        **options: Any,
    ) -> Controller:
        settings = ConnectionSettings.for_emulator(emulator.base_url)
        opts = ControllerOptions(
            repo=repo.checkout,
            audit_log=tmp_path / "state" / "audit.jsonl",
            **{"interval": 0.5, **options},
        )
        return Controller(
            opts,
            settings_for=lambda _p, _e: settings,
            # The checkout under the state directory is the controller's own (as the systemd
            # unit's clone): it follows the branch, dry runs included (test_worktree_safety
            # covers someone's clone).
            environ={**ENVIRON, "STATE_DIRECTORY": str(tmp_path)} if environ is None else environ,
            clock=clock or FakeClock(),
            backoff=backoff,
            process_metrics=False,
        )

    return make
