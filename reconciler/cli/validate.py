"""`cxrecon validate`: check cxrecon.yaml (sync windows included), then load, schema-check and
lint the desired state without any network; text, JSON or GitHub Actions annotations; exit 0/1.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli.common import cache_option, environment_option, format_option, strict_option
from reconciler.errors import ConfigError
from reconciler.model import Diagnostic
from reconciler.render.escape import terminal, terminal_lines, workflow_data, workflow_property

if TYPE_CHECKING:
    from reconciler import LoadResult


@click.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@environment_option
@strict_option
@format_option("Output format.", ("text", "json"))
@cache_option
@click.pass_context
def validate(
    ctx: click.Context,
    path: Path | None,
    environment: str | None,
    strict: bool,
    output_format: str,
    no_cache: bool,
) -> None:
    """Check connector files: YAML, JSON Schema, references and lint. No network.

    PATH is a directory of connector files (default: the project's connectors path) or
    one file. Without -e, every environment in cxrecon.yaml is checked, so a ${var:}
    missing from any of them is reported with the environment's name. cxrecon.yaml itself
    is checked first, its syncWindows included (cron schedules, time zones, durations).
    """
    # Imported here, not at the top: `cxrecon validate --help` needs none of them.
    from reconciler.cli import validate_policies
    from reconciler.facade.validating import validate_desired, validation_scope

    annotate = os.environ.get("GITHUB_ACTIONS") == "true"
    try:
        scope = validation_scope(environment)
    except ConfigError as exc:
        _report_config_error(exc, output_format, annotate)
        ctx.exit(1)
    # Outside a project: one line naming cxrecon.yaml (issue 24).
    scope.project.require_found(path)
    checked = validate_desired(scope, path, strict=strict, cache=not no_cache)
    result = checked.loaded
    if output_format == "json":
        body = _as_json(result)
        hits, misses = checked.cache_hits, checked.cache_misses
        body["cache"] = None if hits is None else {"hits": hits, "misses": misses}
        body["policy"] = validate_policies.as_json(checked)
        body["valid"] = body["valid"] and body["policy"]["errors"] == 0
        click.echo(json.dumps(body, indent=2))
    else:
        # Values and file names are the repository's: a newline there must not start a
        # forged `::error` line in the job log, nor ESC a terminal sequence.
        for diagnostic in result.diagnostics:
            click.echo(terminal(str(diagnostic)))
        for violation in checked.violations:
            click.echo(terminal(str(violation)))
        for note in validate_policies.skipped_notes(checked):
            click.echo(terminal(note))
        click.echo(_summary(result) + validate_policies.summary(checked))
    if annotate:
        found = (*result.diagnostics, *validate_policies.as_diagnostics(checked))
        _annotate(found, to_stderr=output_format == "json")
    if not checked.ok:
        ctx.exit(1)


def _summary(result: LoadResult) -> str:
    errors, warnings = len(result.errors), len(result.warnings)
    files = _count(len(result.files), "file")
    if errors:
        return (
            f"{_count(errors, 'error')}, {_count(warnings, 'warning')} in {files}; "
            "the desired state is invalid"
        )
    extra = f" ({_count(warnings, 'warning')})" if warnings else ""
    return f"{_count(len(result.connectors), 'connector')} in {files}: valid{extra}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _as_json(result: LoadResult) -> dict[str, Any]:
    return {
        "valid": result.ok,
        "environment": result.environment,
        "environments": list(result.environments),
        "files": len(result.files),
        "connectors": len(result.connectors),
        "errors": len(result.errors),
        "warnings": len(result.warnings),
        "digest": result.digest,
        "diagnostics": [_diagnostic_json(d) for d in result.diagnostics],
    }


def _diagnostic_json(d: Diagnostic) -> dict[str, Any]:
    loc = d.location
    return {
        "severity": d.severity,
        "rule": d.rule,
        "message": d.message,
        "path": loc.path if loc else None,
        "line": loc.line if loc else None,
        "col": loc.col if loc else None,
    }


def _report_config_error(exc: ConfigError, output_format: str, annotate: bool) -> None:
    diagnostics = exc.diagnostics or (Diagnostic("error", str(exc), None, "project"),)
    if output_format == "json":
        payload = {
            "valid": False,
            "environment": None,
            "environments": [],
            "files": 0,
            "connectors": 0,
            "errors": sum(1 for d in diagnostics if d.severity == "error"),
            "warnings": sum(1 for d in diagnostics if d.severity == "warning"),
            "digest": None,
            "diagnostics": [_diagnostic_json(d) for d in diagnostics],
            "cache": None,
            "policy": None,
        }
        click.echo(json.dumps(payload, indent=2))
    else:
        for diagnostic in diagnostics:
            # Without a location it is the whole error message, over several lines.
            shown = (
                terminal(str(diagnostic))
                if diagnostic.location
                else terminal_lines(str(diagnostic))
            )
            click.echo(shown)
        click.echo("the project file cxrecon.yaml is invalid")
    if annotate:
        _annotate(diagnostics, to_stderr=output_format == "json")


def _annotate(diagnostics: Sequence[Diagnostic], *, to_stderr: bool) -> None:
    """GitHub Actions workflow commands, so problems show on the pull request's diff."""
    for d in diagnostics:
        props = [f"title={workflow_property('cxrecon ' + d.rule)}"]
        if d.location is not None:
            props.insert(0, f"file={workflow_property(d.location.path)}")
            props.insert(1, f"line={d.location.line}")
            props.insert(2, f"col={d.location.col}")
        click.echo(f"::{d.severity} {','.join(props)}::{workflow_data(d.message)}", err=to_stderr)
