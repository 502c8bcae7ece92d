"""The read-only runs against the tenant that `plan`, `drift` and `dump` share: open the
target (`-e`, `--emulator`), then list its connectors, or list them and plan against git.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import click

from reconciler.apply.audit_reader import read_history
from reconciler.cli.common import audit_log_at, identity_note, open_target
from reconciler.config.project import EnvironmentConfig, Project
from reconciler.config.settings import ConnectionSettings
from reconciler.cxone.client import CxoneClient
from reconciler.cxone.stats import ApiStats, StatsSnapshot
from reconciler.errors import ConfigError
from reconciler.facade import PlanRun, load_desired, make_plan, open_project, plan_scope
from reconciler.load.cache import FileCache
from reconciler.model import RemoteConnector
from reconciler.plan.applied import AppliedHistory
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
    """Load the project, then the desired state while the tenant is fetched, and plan. The audit
    log `cxrecon apply` appends to (default .cxrecon/audit.jsonl) tells which connectors
    missing from CXone were applied before: those were deleted in CXone."""
    started = time.monotonic()
    project = open_project()
    project.require_found(path)
    note = identity_note(project)
    if note is not None:
        click.echo(note, err=True)
    env = project.environment(environment)
    history = read_history(
        audit_log_at(project.root, audit_log),
        project.environment_label(environment),
    )
    # An invalid request fails here, before any connection is opened. The desired state is
    # loaded while the tenant is read (an invalid one stops the run with its errors).
    plan_scope(path, prune)
    files = FileCache.for_project(project.root) if cache else None
    stats = ApiStats()
    request = _Request(environment, path, strict, prune, take_ownership)
    with contextlib.ExitStack() as stack:
        if files is not None:
            stack.callback(files.close)  # over its bound, the cache sheds old entries
        try:
            target = stack.enter_context(
                open_target(environment, emulator, dict(env.connection), root=project.root)
            )
        except ConfigError:
            # The desired state's errors come first: they are what a new user must fix.
            load_desired(project, env, path, strict=strict, cache=files)
            raise
        run = asyncio.run(
            _plan(project, stats, target.settings, request, files, parallelism, history)
        )
    use = None if files is None else CacheUse(hits=files.hits, misses=files.misses)
    seconds = time.monotonic() - started
    label = project.environment_label(environment)
    return Planned(env, run, project, stats.snapshot(), seconds, use, label)


@dataclass(frozen=True)
class _Request:
    """What the command asked to plan."""

    environment: str | None
    path: Path | None
    strict: bool
    prune: bool
    take_ownership: bool


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
    request: _Request,
    files: FileCache | None,
    parallelism: int,
    history: AppliedHistory | None = None,
) -> PlanRun:
    async with CxoneClient(settings, parallelism=parallelism, stats=stats) as client:
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


async def _list(settings: ConnectionSettings) -> list[RemoteConnector]:
    async with CxoneClient(settings) as client:
        return await client.list_connectors()
