"""`cxrecon drift`: read-only; what changed in CXone since the last apply (not what is pending
in git), as text, JSON or Markdown (the drift workflow's issue body); `--write-back` adopts it.

Exit codes: 0 in sync, 2 drift, 1 error (also when some connector could not be checked and
no drift was found elsewhere). With --write-back: 0 when every drifted field was adopted into
the files, 2 when some drift is left for a hand edit, 1 on error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.cli.common import (
    audit_log_option,
    cache_option,
    emulator_option,
    environment_option,
    format_option,
    metrics_format_option,
    parallelism_option,
    strict_option,
)
from reconciler.cli.plan import HISTORY_HELP

if TYPE_CHECKING:
    from reconciler.facade.drifting import Adoption


@click.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@environment_option
@emulator_option
@format_option("Output format (markdown: the body of a GitHub issue).")
@click.option(
    "--write-back",
    "adopt",
    is_flag=True,
    help="Adopt the drift into the connector files (keeps comments and layout).",
)
@parallelism_option()
@strict_option
@audit_log_option(HISTORY_HELP, None)
@cache_option
@metrics_format_option
@click.pass_context
def drift(
    ctx: click.Context,
    path: Path | None,
    environment: str | None,
    emulator: bool,
    output_format: str,
    adopt: bool,
    parallelism: int,
    strict: bool,
    audit_log: Path | None,
    no_cache: bool,
    metrics_format: str | None,
) -> None:
    """Show changes made in CXone since cxrecon last applied each connector. Read-only
    unless --write-back.

    Changes in git that are not applied yet are not drift (see `cxrecon plan`). Resolve
    drift by reverting it (`cxrecon apply`) or by adopting it (`--write-back`, then a pull
    request). Credential values are write-only in CXone, so only a changed set of
    credential keys or auth type shows as drift.
    """
    # Imported here, not at the top: `cxrecon drift --help` needs none of them.
    from reconciler.cli.tenant import plan_from_tenant, print_summary
    from reconciler.facade.drifting import adopt_drift, drift_report
    from reconciler.notify.runs import notify_drift
    from reconciler.render.drift import render, render_text

    if adopt and output_format != "text":
        raise click.UsageError("--write-back reports what it changed as text; drop --format")
    planned = plan_from_tenant(
        path,
        environment,
        emulator,
        parallelism=parallelism,
        strict=strict,
        audit_log=audit_log,
        cache=not no_cache,
    )
    print_summary(planned, "drift", metrics_format)
    report = drift_report(planned)
    # `notifications:` (bounded in time; a destination that fails is a warning, nothing more)
    notify_drift(planned.project, planned.label, report, warn=lambda m: click.echo(m, err=True))
    hint_flags = " --emulator" if emulator else ""
    if not adopt:
        click.echo(render(report, output_format, hint_flags), nl=False)
        ctx.exit(report.exit_code)
    adoption = adopt_drift(report, planned)
    click.echo(render_text(report, hint_flags), nl=False)
    click.echo(_summary(adoption), nl=False)
    ctx.exit(adoption.exit_code)


def _summary(adoption: Adoption) -> str:
    result, report = adoption.result, adoption.report
    if not report.connectors and not result.left:
        return "\nNothing to write back.\n"
    lines = [""]
    if result.adopted:
        lines.append(f"Wrote back {len(result.adopted)} field(s) into {len(result.files)} file(s):")
        by_file: dict[str, list[str]] = {}
        for a in result.adopted:
            by_file.setdefault(a.file, []).append(a.path)
        lines += [f"  {file}: {', '.join(paths)}" for file, paths in by_file.items()]
    else:
        lines.append("Wrote back nothing.")
    if result.left:
        lines += ["", f"Left for you ({len(result.left)}):"]
        lines += [f"  {x.connector} {x.path} ({x.where}): {x.reason}" for x in result.left]
    flag = f" -e {report.environment}" if report.environment else ""
    if result.adopted:
        lines += [
            "",
            f"Next: review `git diff`, check `cxrecon plan{flag}` shows no changes for these "
            "fields, then commit and open a pull request.",
        ]
    return "\n".join(lines) + "\n"
