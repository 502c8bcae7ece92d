"""The read-only runs against the tenant that `plan`, `drift` and `dump` share: open the
target (`-e`, `--emulator`), then list its connectors, or list them and plan against git.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import click

from reconciler.apply.history import read_history
from reconciler.cli.common import audit_log_at, open_target
from reconciler.config.project import EnvironmentConfig, Project
from reconciler.config.settings import ConnectionSettings
from reconciler.cxone.client import CxoneClient
from reconciler.cxone.stats import ApiStats, StatsSnapshot
from reconciler.facade import PlanRun, make_plan, open_project, plan_scope
from reconciler.load.cache import FileCache
from reconciler.load.desired import LoadResult, load_desired, raise_if_invalid
from reconciler.model import RemoteConnector
from reconciler.plan.history import AppliedHistory
from reconciler.telemetry.summary import CacheUse


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
    cache: bool = True,
) -> Planned:
    """Load the project and the desired state, then fetch the tenant and plan. The audit
    log `cxrecon apply` appends to (default .cxrecon/audit.jsonl) tells which connectors
    missing from CXone were applied before: those were deleted in CXone."""
    started = time.monotonic()
    project = open_project()
    env = project.environment(environment)
    history = read_history(
        audit_log_at(project.root, audit_log),
        project.environment_label(environment),
    )
    # Invalid requests and desired state fail here, before any connection is opened.
    plan_scope(path, prune)
    loaded, use = load_valid(project, env, path, strict=strict, cache=cache)
    stats = ApiStats()
    with open_target(environment, emulator, dict(env.connection), root=project.root) as target:
        run = asyncio.run(
            _plan(
                project,
                stats,
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
    seconds = time.monotonic() - started
    label = project.environment_label(environment)
    return Planned(env, run, project, stats.snapshot(), seconds, use, label)


def load_checked(
    project: Project,
    env: EnvironmentConfig | None,
    path: Path | None,
    *,
    strict: bool,
    cache: bool,
) -> tuple[LoadResult, CacheUse | None]:
    """The desired state, with files unchanged since an earlier run read from the project's
    cache (`cache`), and how the cache served; not yet checked for errors."""
    files = FileCache.for_project(project.root) if cache else None
    target = path if path is not None else project.connectors_path
    loaded = load_desired(target, env, strict=strict, project=project, cache=files)
    if files is None:
        return loaded, None
    files.close()
    return loaded, CacheUse(hits=files.hits, misses=files.misses)


def load_valid(
    project: Project, env: EnvironmentConfig, path: Path | None, *, strict: bool, cache: bool
) -> tuple[LoadResult, CacheUse | None]:
    """`load_checked`, then ConfigError with every diagnostic when it is invalid (as the
    facade's load_desired)."""
    loaded, use = load_checked(project, env, path, strict=strict, cache=cache)
    raise_if_invalid(loaded)
    return loaded, use


def print_summary(planned: Planned, command: str, metrics_format: str | None) -> None:
    """The run summary on stderr (`--metrics-format`), as `cxrecon apply` prints its own."""
    if metrics_format is None or planned.stats is None:
        return
    from reconciler.telemetry.summary import render_text, summarize, to_json

    summary = summarize(
        planned.stats,
        command=command,
        run_id=uuid.uuid4().hex[:12],
        environment=planned.label,
        duration_seconds=planned.seconds,
        cache=planned.cache,
    )
    if metrics_format == "json":
        import json

        click.echo(json.dumps(to_json(summary), indent=2), err=True)
    else:
        click.echo(render_text(summary), err=True)


def list_tenant(
    environment: str | None, emulator: bool, env: EnvironmentConfig, root: Path | None = None
) -> list[RemoteConnector]:
    """Every connector in the tenant `env` (or the project `root`'s embedded emulator)
    points at."""
    with open_target(environment, emulator, dict(env.connection), root=root) as target:
        return asyncio.run(_list(target.settings))


async def _plan(
    project: Project,
    stats: ApiStats,
    settings: ConnectionSettings,
    environment: str | None,
    path: Path | None,
    loaded: LoadResult,
    prune: bool,
    parallelism: int,
    take_ownership: bool = False,
    history: AppliedHistory | None = None,
) -> PlanRun:
    async with CxoneClient(settings, parallelism=parallelism, stats=stats) as client:
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
