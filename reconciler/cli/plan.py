"""`cxrecon plan`: read-only; shows what apply would do, as text, JSON or Markdown.

Exit codes: 0 ok; with --detailed-exitcode 0 no changes, 2 changes, 3 over the safety
gate; 1 on any error (invalid config, API failure, a connector that cannot be planned).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from reconciler.cli.common import emulator_option, environment_option, open_target
from reconciler.cxone.client import CxoneClient
from reconciler.plan import Plan
from reconciler.planning import PlanRun, load, make_plan
from reconciler.project import Project, load_project
from reconciler.render import json_format, markdown, text
from reconciler.savedplan import write
from reconciler.settings import ConnectionSettings
from reconciler.validate import LoadResult


@click.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@environment_option
@emulator_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="Output format (markdown: for a pull-request comment).",
)
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
@click.option("--prune", is_flag=True, help="Deactivate managed connectors no longer in git.")
@click.option("--strict", is_flag=True, help="Treat validation warnings as errors.")
@click.option("--show-unchanged", is_flag=True, help="Also list connectors already in sync.")
@click.option(
    "--parallelism",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Concurrent API requests.",
)
@click.pass_context
def plan(
    ctx: click.Context,
    path: Path | None,
    environment: str | None,
    emulator: bool,
    output_format: str,
    out: Path | None,
    detailed_exitcode: bool,
    prune: bool,
    strict: bool,
    show_unchanged: bool,
    parallelism: int,
) -> None:
    """Show what `apply` would change in CXone. Read-only.

    PATH is a directory of connector files (default: the project's connectors path) or
    one file. Secrets are never needed; when the environment provides them, rotated
    credentials are detected too (otherwise they show as `unknown`).
    """
    project = load_project()
    env = project.environment(environment)
    # Invalid desired state fails here, before any connection is configured or opened.
    loaded = load(project, env, path, strict)
    with open_target(environment, emulator, dict(env.connection)) as target:
        run = asyncio.run(_run(project, target.settings, environment, loaded, prune, parallelism))
    result = run.plan
    click.echo(_render(result, output_format, show_unchanged), nl=False)
    if out is not None:
        write(result, out)
        click.echo(
            f"Saved the plan to {out}; apply it with `cxrecon apply --plan {out}`.", err=True
        )
    markdown.write_job_summary(result)
    ctx.exit(result.exit_code(detailed_exitcode))


async def _run(
    project: Project,
    settings: ConnectionSettings,
    environment: str | None,
    loaded: LoadResult,
    prune: bool,
    parallelism: int,
) -> PlanRun:
    async with CxoneClient(settings, parallelism=parallelism) as client:
        return await make_plan(project, client, environment=environment, prune=prune, loaded=loaded)


def _render(result: Plan, output_format: str, show_unchanged: bool) -> str:
    if output_format == "json":
        return json_format.render(result)
    if output_format == "markdown":
        return markdown.render(result)
    renderer = text.TextRenderer(color=text.use_color(sys.stdout), show_unchanged=show_unchanged)
    return renderer.render(result)
