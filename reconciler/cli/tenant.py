"""The read-only runs against the tenant that `plan`, `drift` and `dump` share: open the
target (`-e`, `--emulator`), then list its connectors, or list them and plan against git.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from reconciler.apply.audit import DEFAULT_AUDIT_LOG
from reconciler.apply.history import read_history
from reconciler.cli.common import open_target
from reconciler.config.project import EnvironmentConfig, Project
from reconciler.config.settings import ConnectionSettings
from reconciler.cxone.client import CxoneClient
from reconciler.facade import PlanRun, load_desired, make_plan, open_project, plan_scope
from reconciler.load.desired import LoadResult
from reconciler.model import RemoteConnector
from reconciler.plan.history import AppliedHistory


@dataclass(frozen=True, repr=False)
class Planned:
    """A finished planning run and the environment it was made for."""

    env: EnvironmentConfig
    run: PlanRun
    project: Project


def plan_from_tenant(
    path: Path | None,
    environment: str | None,
    emulator: bool,
    *,
    parallelism: int,
    strict: bool = False,
    prune: bool = False,
    take_ownership: bool = False,
    audit_log: Path | None = None,
) -> Planned:
    """Load the project and the desired state, then fetch the tenant and plan. The audit
    log `cxrecon apply` appends to (default .cxrecon/audit.jsonl) tells which connectors
    missing from CXone were applied before: those were deleted in CXone."""
    project = open_project()
    env = project.environment(environment)
    history = read_history(
        audit_log if audit_log is not None else DEFAULT_AUDIT_LOG,
        project.environment_label(environment),
    )
    # Invalid requests and desired state fail here, before any connection is opened.
    plan_scope(path, prune)
    loaded = load_desired(project, env, path, strict=strict)
    with open_target(environment, emulator, dict(env.connection)) as target:
        run = asyncio.run(
            _plan(
                project,
                target.settings,
                environment,
                path,
                loaded,
                prune,
                parallelism,
                take_ownership,
                history,
            )
        )
    return Planned(env, run, project)


def list_tenant(
    environment: str | None, emulator: bool, env: EnvironmentConfig
) -> list[RemoteConnector]:
    """Every connector in the tenant `env` (or the embedded emulator) points at."""
    with open_target(environment, emulator, dict(env.connection)) as target:
        return asyncio.run(_list(target.settings))


async def _plan(
    project: Project,
    settings: ConnectionSettings,
    environment: str | None,
    path: Path | None,
    loaded: LoadResult,
    prune: bool,
    parallelism: int,
    take_ownership: bool = False,
    history: AppliedHistory | None = None,
) -> PlanRun:
    async with CxoneClient(settings, parallelism=parallelism) as client:
        return await make_plan(
            project,
            client,
            environment=environment,
            path=path,
            prune=prune,
            loaded=loaded,
            take_ownership=take_ownership,
            history=history,
        )


async def _list(settings: ConnectionSettings) -> list[RemoteConnector]:
    async with CxoneClient(settings) as client:
        return await client.list_connectors()
