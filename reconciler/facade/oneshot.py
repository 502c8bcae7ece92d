"""One-shot runs against a tenant for the commands that read it (`plan`, `drift`, `status`):
the audit history and the file cache set up, the tenant reached, the desired state planned."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from reconciler.apply.audit import DEFAULT_AUDIT_LOG
from reconciler.config.project import EnvironmentConfig, Project
from reconciler.config.settings import ConnectionSettings
from reconciler.cxone.client import CxoneClient
from reconciler.cxone.stats import ApiStats, StatsSnapshot
from reconciler.errors import ConfigError
from reconciler.facade.planning import (
    PlanRun,
    applied_history,
    load_desired,
    make_plan,
    plan_scope,
)
from reconciler.load.cache import FileCache
from reconciler.plan.applied import AppliedHistory
from reconciler.telemetry.summary import CacheUse

#: Reaches the tenant of an environment: its connection settings while the block lasts
#: (the CLI's `-e` and `--emulator`: an embedded emulator runs meanwhile).
TenantOpener = Callable[[EnvironmentConfig], AbstractContextManager[ConnectionSettings]]


def audit_log_at(root: Path, given: Path | None) -> Path:
    """The audit log a run writes or reads: `given` (as typed), else `.cxrecon/audit.jsonl`
    in the project folder `root`, wherever the command runs from."""
    return given if given is not None else root / DEFAULT_AUDIT_LOG


@dataclass(frozen=True)
class PlanRequest:
    """What a one-shot plan is asked for (the flags of `plan`, `drift` and `status`)."""

    environment: str | None = None
    #: A directory of connector files or one file (default: the project's connectors path).
    path: Path | None = None
    strict: bool = False
    prune: bool = False
    take_ownership: bool = False
    #: The audit log that tells connectors deleted in CXone (default: `audit_log_at`).
    audit_log: Path | None = None
    #: Reuse the checked files of earlier runs (`.cxrecon/cache/`).
    cache: bool = True
    parallelism: int = 8


@dataclass(frozen=True, repr=False)
class Planned:
    """A finished planning run and the environment it was made for."""

    env: EnvironmentConfig
    run: PlanRun
    project: Project
    #: The API calls the run made, its wall time, and its use of the cache (None: off).
    stats: StatsSnapshot | None = None
    seconds: float = 0.0
    cache: CacheUse | None = None
    #: The environment as reports name it (None: the implicit default).
    label: str | None = None


def plan_once(project: Project, request: PlanRequest, tenant: TenantOpener) -> Planned:
    """Plan the project's desired state against the tenant `tenant` opens, in an event loop
    of its own. The audit log `cxrecon apply` appends to tells which connectors missing from
    CXone were applied before: those were deleted in CXone. An invalid request fails before
    any connection is opened; the desired state is loaded while the tenant is read, and its
    errors come first (also when the tenant cannot be reached: they are what a new user
    must fix)."""
    started = time.monotonic()
    env = project.environment(request.environment)
    label = project.environment_label(request.environment)
    history = applied_history(audit_log_at(project.root, request.audit_log), label)
    plan_scope(request.path, request.prune)
    files = FileCache.for_project(project.root) if request.cache else None
    stats = ApiStats()
    with contextlib.ExitStack() as stack:
        if files is not None:
            stack.callback(files.close)  # over its bound, the cache sheds old entries
        try:
            settings = stack.enter_context(tenant(env))
        except ConfigError:
            load_desired(project, env, request.path, strict=request.strict, cache=files)
            raise
        run = asyncio.run(_plan(project, stats, settings, request, files, history))
    use = None if files is None else CacheUse(hits=files.hits, misses=files.misses)
    seconds = time.monotonic() - started
    return Planned(env, run, project, stats.snapshot(), seconds, use, label)


async def _plan(
    project: Project,
    stats: ApiStats,
    settings: ConnectionSettings,
    request: PlanRequest,
    files: FileCache | None,
    history: AppliedHistory | None,
) -> PlanRun:
    async with CxoneClient(settings, parallelism=request.parallelism, stats=stats) as client:
        return await make_plan(
            project,
            client,
            environment=request.environment,
            path=request.path,
            prune=request.prune,
            strict=request.strict,
            cache=files,
            take_ownership=request.take_ownership,
            history=history,
        )
