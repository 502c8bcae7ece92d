"""`cxrecon sync NAME`: trigger a CRM data sync on one connector and (by default) wait for it.

Exit codes: 0 completed (or started, with --no-wait); 1 failed, timed out or not startable.
"""

from __future__ import annotations

from pathlib import Path

import click

# Only what the options need is imported here (light modules): `cxrecon sync --help` and
# the command list load without the client or the sync poller.
from reconciler.cli.common import (
    audit_log_option,
    emulator_option,
    environment_option,
    poll_options,
    tenant_of,
    write_environment,
)
from reconciler.model import SYNC_TYPES


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
    import sys

    from reconciler.facade import open_project
    from reconciler.facade.oneshot import audit_log_at
    from reconciler.facade.syncing import SyncOrder, poll_policy, sync_connector
    from reconciler.render.progress import progress_for

    if sync_id is not None and not wait:
        raise click.UsageError("--id polls a sync until it ends; drop --no-wait")
    project = open_project()
    # Outside a project: one line naming cxrecon.yaml, before the audit log or an embedded
    # emulator's state is created in a stray folder (issue 24).
    project.require_found(None)
    # Starting a sync is a write to the tenant: it names its environment among several, and
    # CXONE_BASE_URL must be that environment's (it labels nothing: no identity needed).
    env = write_environment(project, environment, emulator=emulator, identity=False)
    policy = poll_policy(project, poll_base, poll_cap, poll_attempts, poll_timeout)
    order = SyncOrder(name, sync_type, wait, sync_id)
    # The command prints the outcome on stdout: the bar must not repeat it on stderr.
    progress = progress_for(sys.stderr, 1, transient=True) if wait else None
    with tenant_of(environment, emulator, project.root)(env) as settings:
        try:
            run = asyncio.run(
                sync_connector(
                    project,
                    settings,
                    order,
                    policy=policy,
                    audit_log=audit_log_at(project.root, audit_log),
                    environment=project.environment_label(environment),
                    progress=progress,
                )
            )
        finally:
            if progress is not None:
                progress.close()
    if run.audit_failure is not None:
        # The sync ran (or was refused before it was started) but its record is not on disk.
        click.echo(f"error: {run.audit_failure}", err=True)
        ctx.exit(1)
    outcome = run.outcome
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
