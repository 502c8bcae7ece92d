"""The read-only runs against the tenant that `plan`, `drift` and `status` share: the project
found here, its missing identity noted, one plan through the facade (`-e`, `--emulator`), and
the run summary `--metrics-format` prints.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import click

from reconciler.cli.common import identity_note, tenant_of
from reconciler.facade import open_project
from reconciler.facade.oneshot import Planned, PlanRequest, plan_once


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
    """Open the project, say when it has no identity, then plan it against the tenant
    (`reconciler.facade.oneshot.plan_once`: the audit log `cxrecon apply` appends to, default
    .cxrecon/audit.jsonl, tells which connectors missing from CXone were deleted there)."""
    project = open_project()
    project.require_found(path)
    note = identity_note(project)
    if note is not None:
        click.echo(note, err=True)
    request = PlanRequest(
        environment=environment,
        path=path,
        strict=strict,
        prune=prune,
        take_ownership=take_ownership,
        audit_log=audit_log,
        cache=cache,
        parallelism=parallelism,
    )
    return plan_once(project, request, tenant_of(environment, emulator, project.root))


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
