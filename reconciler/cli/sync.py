"""`cxrecon sync NAME`: trigger a CRM data sync on one connector and (by default) wait for it.

Exit codes: 0 completed (or started, with --no-wait); 1 failed, timed out or not startable.
Also home of the poll policy and progress display `cxrecon apply --sync` shares.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from reconciler.apply.actor import detect_actor

# Only what the options need is imported here (light modules): `cxrecon sync --help` and
# the command list load without the client or the sync poller.
from reconciler.apply.audit import AuditLog
from reconciler.cli.common import (
    audit_log_at,
    audit_log_option,
    emulator_option,
    environment_option,
    open_target,
    poll_options,
    write_environment,
)
from reconciler.errors import ConfigError, CxreconError
from reconciler.model import SYNC_TYPES

if TYPE_CHECKING:
    from reconciler.apply.datasync import PollPolicy, SyncOutcome
    from reconciler.config.project import Project
    from reconciler.config.settings import ConnectionSettings


def poll_policy(
    project: Project,
    base: float | None,
    cap: float | None,
    attempts: int | None,
    timeout: float | None,
) -> PollPolicy:
    """Flags first, then the project's `syncPoll` settings."""
    from reconciler.apply.datasync import PollPolicy

    settings = project.sync_poll
    try:
        return PollPolicy(
            base_seconds=base if base is not None else settings.base_seconds,
            cap_seconds=cap if cap is not None else settings.cap_seconds,
            max_attempts=attempts if attempts is not None else settings.max_attempts,
            timeout_seconds=timeout if timeout is not None else settings.timeout_seconds,
        )
    except ValueError as exc:
        raise ConfigError(f"{exc} (check --poll-* flags and syncPoll in cxrecon.yaml)") from None


@click.command()
@click.argument("name")
@environment_option
@emulator_option
@click.option(
    "--type",
    "--sync-type",
    "sync_type",
    type=click.Choice(SYNC_TYPES),
    default="INCREMENTAL",
    show_default=True,
    help="FULL re-reads every CRM record; INCREMENTAL only changes since the last sync.",
)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Poll until it ends.")
@click.option(
    "--id",
    "sync_id",
    metavar="SYNC_ID",
    help="Do not start a sync: poll this one (as printed by --no-wait) until it ends.",
)
@poll_options
@audit_log_option(
    "Append one JSON line per sync here [default: .cxrecon/audit.jsonl in the project folder].",
    None,
)
@click.pass_context
def sync(
    ctx: click.Context,
    name: str,
    environment: str | None,
    emulator: bool,
    sync_type: str,
    wait: bool,
    sync_id: str | None,
    poll_base: float | None,
    poll_cap: float | None,
    poll_attempts: int | None,
    poll_timeout: float | None,
    audit_log: Path | None,
) -> None:
    """Trigger a CRM data sync on connector NAME (it must be ACTIVE) and wait for it.

    Polls with full-jitter exponential backoff; FAILED syncs show the server's errorDetails.
    With --id SYNC_ID, polls that sync instead of starting one.
    """
    import asyncio

    from reconciler.config.project import load_project

    if sync_id is not None and not wait:
        raise click.UsageError("--id polls a sync until it ends; drop --no-wait")
    project = load_project()
    # Outside a project: one line naming cxrecon.yaml, before the audit log or an embedded
    # emulator's state is created in a stray folder (issue 24).
    project.require_found(None)
    # Starting a sync is a write to the tenant: it names its environment among several, and
    # CXONE_BASE_URL must be that environment's (it labels nothing: no identity needed).
    env = write_environment(project, environment, emulator=emulator, identity=False)
    policy = poll_policy(project, poll_base, poll_cap, poll_attempts, poll_timeout)
    env_name = project.environment_label(environment)
    audit_log = audit_log_at(project.root, audit_log)
    with open_target(environment, emulator, dict(env.connection), root=project.root) as target:
        actor = detect_actor(os.environ, project.root)
        with AuditLog(
            audit_log, actor=actor, environment=env_name, command="sync", root=project.root
        ) as audit:
            outcome = asyncio.run(
                _run(target.settings, name, sync_type, wait, sync_id, policy, audit, sys.stderr)
            )
    if audit.failure is not None:
        # The sync ran (or was refused before it was started) but its record is not on disk.
        click.echo(f"error: {audit.failure}", err=True)
        ctx.exit(1)
    if outcome.status == "PENDING":
        flags = f" -e {environment}" if environment else ""
        flags += " --emulator" if emulator else ""
        click.echo(
            f"Started sync {outcome.sync_id} on {name}; follow it with "
            f"`cxrecon sync {name}{flags} --id {outcome.sync_id}`."
        )
        ctx.exit(0)
    click.echo(f"sync {outcome.describe()}")
    ctx.exit(0 if outcome.ok else 1)


async def _run(
    settings: ConnectionSettings,
    name: str,
    sync_type: str,
    wait: bool,
    sync_id: str | None,
    policy: PollPolicy,
    audit: AuditLog,
    stream: TextIO,
) -> SyncOutcome:
    from reconciler.apply.datasync import SyncTarget, run_sync, watch_sync
    from reconciler.cxone.client import CxoneClient
    from reconciler.render.progress import progress_for

    async with CxoneClient(settings, parallelism=2) as client:
        found = await client.find_by_name(name)
        if not found:
            raise CxreconError(
                f"no connector named {name!r} in CXone; check the name (`cxrecon plan` lists "
                "them) or apply it first"
            )
        if len(found) > 1:
            ids = ", ".join(c.id for c in found)
            raise CxreconError(f"{len(found)} connectors are named {name!r} (ids {ids}); fix it")
        connector = found[0]
        if sync_id is not None:
            watching = progress_for(stream, 1, transient=True)
            try:
                target = SyncTarget(name, connector.id)
                return await watch_sync(client, target, sync_id, policy=policy, progress=watching)
            finally:
                watching.close()
        if connector.spec.lifecycle_status != "ACTIVE":
            raise CxreconError(
                f"connector {name!r} is {connector.spec.lifecycle_status}; syncs only run on "
                "ACTIVE connectors: set `lifecycleStatus: ACTIVE` in git and apply first"
            )
        # The command prints the outcome on stdout: the bar must not repeat it on stderr.
        progress = progress_for(stream, 1, transient=True) if wait else None
        try:
            return await run_sync(
                client,
                SyncTarget(name, connector.id),
                sync_type=sync_type,
                policy=policy,
                wait=wait,
                progress=progress,
                audit=audit,
            )
        finally:
            if progress is not None:
                progress.close()
