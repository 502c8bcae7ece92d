"""What the status page's views are built from, one per request: the controller's last
report, the cycle history, the audit log, the sync windows and the connectors in backoff."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path

from reconciler.config.windows import SyncWindow
from reconciler.controller.page.audit_view import AuditView
from reconciler.controller.page.cycles import CycleHistory
from reconciler.controller.page.repolink import RepoInfo
from reconciler.controller.report import ControllerOptions, CycleReport


@dataclass(frozen=True, slots=True)
class Backoff:
    """A connector waiting out its backoff, as the controller's ConnectorBackoff had it."""

    name: str
    failures: int
    remaining: float
    last_error: str | None


@dataclass(frozen=True)
class Context:
    """What the views are built from; one per request."""

    options: ControllerOptions
    environment: str | None
    last: CycleReport | None
    history: CycleHistory
    audit: AuditView
    repo: RepoInfo
    now: dt.datetime
    ready: bool
    readiness: str
    windows: tuple[SyncWindow, ...] = ()
    windows_problem: str | None = None
    connectors_dir: Path | None = None
    backoff: tuple[Backoff, ...] = ()
    pull_failures: int = 0
    cycles_started: int = 0
    stopping: bool = False

    @functools.cached_property
    def connectors_folder(self) -> str | None:
        """The connectors folder relative to the repository root (None: not inside it)."""
        return None if self.connectors_dir is None else self.repo.relative(self.connectors_dir)


def environment_name(ctx: Context) -> str:
    return ctx.environment or "default"
