"""`cxrecon plan`: read-only; shows what apply would do, as text, JSON or Markdown.

Exit codes: 0 ok; with --detailed-exitcode 0 no changes, 2 changes, 3 over the safety
gate; 1 on any error (invalid config, API failure, a connector that cannot be planned).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.cli.common import (
    audit_log_option,
    cache_option,
    emulator_option,
    format_option,
    metrics_format_option,
    parallelism_option,
    prune_option,
    strict_option,
    take_ownership_option,
)

#: `--audit-log` of plan and drift: read, never written.
HISTORY_HELP = (
    "The audit log `cxrecon apply` wrote, read to recognise connectors deleted in CXone "
    "[default: .cxrecon/audit.jsonl in the project folder]."
)

if TYPE_CHECKING:
    from reconciler import Plan


@click.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option(
    "-e",
    "--environment",
    "environments",
    metavar="NAME",
    multiple=True,
    envvar="CXRECON_ENVIRONMENT",
    help=(
        "Environment from cxrecon.yaml (tenant, base URL, ${var:} values). Repeat it, or "
        "give `all`, for one report comparing the environments' plans."
    ),
)
@emulator_option
@format_option("Output format (markdown: for a pull-request comment).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the plan (pinned to ETags and the desired files) for `apply --plan`.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 no changes, 2 changes, 3 changes over the safety gate, 1 error.",
)
@prune_option
@take_ownership_option
@strict_option
@click.option("--show-unchanged", is_flag=True, help="Also list connectors already in sync.")
@parallelism_option()
@audit_log_option(HISTORY_HELP, None)
@cache_option
@metrics_format_option
@click.pass_context
def plan(
    ctx: click.Context,
    path: Path | None,
    environments: tuple[str, ...],
    emulator: bool,
    output_format: str,
    out: Path | None,
    detailed_exitcode: bool,
    prune: bool,
    take_ownership: bool,
    strict: bool,
    show_unchanged: bool,
    parallelism: int,
    audit_log: Path | None,
    no_cache: bool,
    metrics_format: str | None,
) -> None:
    """Show what `apply` would change in CXone. Read-only.

    PATH is a directory of connector files (default: the project's connectors path) or
    one file. Secrets are never needed; when the environment provides them, rotated
    credentials are detected too (otherwise they show as `unknown`).

    With several environments (`-e sandbox -e production`, or `-e all`) it plans each and
    shows where they differ: per connector and field, the value each would have after apply.
    """
    # Imported here, not at the top: `cxrecon plan --help` needs none of them.
    from reconciler.cli.plan_across import environments_to_compare, plan_across
    from reconciler.cli.tenant import plan_from_tenant, print_summary
    from reconciler.facade import save_plan
    from reconciler.render import markdown

    compared = environments_to_compare(environments)
    if compared is not None:
        if out is not None:
            raise click.UsageError(
                "--out saves the plan of one environment; run `cxrecon plan -e NAME --out FILE` "
                "for each"
            )
        code = plan_across(
            compared,
            path,
            emulator,
            output_format=output_format,
            detailed_exitcode=detailed_exitcode,
            parallelism=parallelism,
            strict=strict,
            prune=prune,
            take_ownership=take_ownership,
            audit_log=audit_log,
            cache=not no_cache,
        )
        ctx.exit(code)
    environment = environments[0] if environments else None
    planned = plan_from_tenant(
        path,
        environment,
        emulator,
        parallelism=parallelism,
        strict=strict,
        prune=prune,
        take_ownership=take_ownership,
        audit_log=audit_log,
        cache=not no_cache,
    )
    result = planned.run.plan
    if out is not None:
        # Saved before anything is printed: a plan that could not be saved (a full disk) is
        # one line and exit 1, not a plan on stdout and a file that is not there.
        save_plan(
            result, out, planned.project, environment=environment, emulator=emulator, path=path
        )
    click.echo(_render(result, output_format, show_unchanged), nl=False)
    if out is not None:
        click.echo(
            f"Saved the plan to {out}; apply it with `cxrecon apply --plan {out}`.", err=True
        )
    markdown.write_job_summary(result)
    print_summary(planned, "plan", metrics_format)
    ctx.exit(result.exit_code(detailed_exitcode))


def _render(result: Plan, output_format: str, show_unchanged: bool) -> str:
    from reconciler.render import json_format, markdown, text

    if output_format == "json":
        return json_format.render(result)
    if output_format == "markdown":
        return markdown.render(result)
    renderer = text.TextRenderer(color=text.use_color(sys.stdout), show_unchanged=show_unchanged)
    return renderer.render(result)
