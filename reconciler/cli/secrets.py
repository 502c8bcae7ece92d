"""`cxrecon secrets`: the ${env:NAME} / ${file:PATH} references the project needs, per
environment, with the connectors using each and whether this process can resolve it now.
Never a value: a resolved secret is dropped as soon as it is known to resolve.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli.common import environment_option, format_option

if TYPE_CHECKING:
    from reconciler.facade.secrets_needed import EnvironmentSecrets, Reference


@click.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@environment_option
@format_option(
    "Output format: text for people, json for scripts (`missing` lists what is not set).",
    ("text", "json"),
)
def secrets(path: Path | None, environment: str | None, output_format: str) -> None:
    """List the secrets the project needs, per environment, and whether they are set here.

    Every ${env:NAME} and ${file:PATH} reference of the connector files, read after the
    environment's ${var:} values from cxrecon.yaml are substituted, with the connectors
    that use it; and the connection secret cxrecon itself needs for the tenant
    (CXONE_CLIENT_SECRET, plus CXONE_PASSWORD with the password grant); and the variables
    the URLs of `notifications:` are made of. "set" means this
    process can resolve it now: the variable is set and not empty, the file (relative to
    the project root) is readable and not empty. Secret values are never shown. No network.

    PATH is a directory of connector files (default: the project's connectors path) or
    one file. Without -e, every environment in cxrecon.yaml is listed. A connector file
    that does not load in an environment is named on stderr: run `cxrecon validate`.

    Exit code 0 whether or not everything is set (1 only when cxrecon.yaml is invalid
    or -e names no environment); with --format json, `missing` lists the references not
    set, for a CI step to check (`missingNotifications` the notification variables: one
    not set costs its messages, never a run).
    """
    # Imported here, not at the top: `cxrecon secrets --help` needs none of them.
    import os

    from reconciler.facade import open_project, secrets_for
    from reconciler.facade.secrets_needed import secrets_needed

    project = open_project()
    project.require_found(path)  # outside a project: one line naming cxrecon.yaml (issue 24)
    listed = secrets_needed(
        project, secrets_for(project), os.environ, environment=environment, path=path
    )
    for env in listed:
        if env.unloaded:
            where = f"environment {env.name}" if env.name else "the default environment"
            option = f" -e {env.name}" if env.name else ""
            click.echo(
                f"warning: in {where}, {_count(len(env.unloaded), 'connector file')} did not "
                f"load ({', '.join(env.unloaded)}), so their references are not listed; run "
                f"`cxrecon validate{option}`",
                err=True,
            )
    if output_format == "json":
        click.echo(json.dumps(_as_json(listed), indent=2))
    else:
        click.echo(_as_text(listed), nl=False)


def _as_json(listed: Sequence[EnvironmentSecrets]) -> dict[str, Any]:
    missing = sorted({r.text for env in listed for r in env.references if not r.available})
    return {
        "environments": [
            {
                "name": env.name,
                "references": [_reference_json(r) for r in env.references],
                "connection": [
                    {
                        "kind": "env",
                        "name": c.name,
                        "purpose": c.purpose,
                        "available": c.available,
                        "status": c.status,
                    }
                    for c in env.connection
                ],
                "notifications": [
                    {
                        "kind": "env",
                        "name": n.name,
                        "notifications": list(n.notifications),
                        "available": n.available,
                        "status": n.status,
                    }
                    for n in env.notifications
                ],
                "unloadedFiles": list(env.unloaded),
            }
            for env in listed
        ],
        "missing": missing,
        "missingNotifications": sorted(
            {f"${{env:{n.name}}}" for env in listed for n in env.notifications if not n.available}
        ),
        "complete": not any(env.unloaded for env in listed),
    }


def _reference_json(reference: Reference) -> dict[str, Any]:
    out: dict[str, Any] = {
        "reference": reference.text,
        "kind": reference.kind,
        "name": reference.name,
        "available": reference.available,
        "status": reference.status,
        "connectors": sorted(reference.connectors),
    }
    if reference.path is not None:
        out["path"] = str(reference.path)
    if reference.detail is not None:
        out["detail"] = reference.detail
    return out


def _as_text(listed: Sequence[EnvironmentSecrets]) -> str:
    from reconciler.facade.secrets_needed import NOT_SET

    lines: list[str] = []
    for env in listed:
        if lines:
            lines.append("")
        title = f"Environment {env.name}" if env.name else "Environment (default)"
        unset = sum(1 for r in env.references if not r.available)
        count = _count(len(env.references), "reference")
        lines.append(f"{title}: {count}, {unset} not set" if env.references else f"{title}:")
        rows = [(r.text, r.status, ", ".join(sorted(r.connectors))) for r in env.references]
        if not rows:
            rows.append(("(no ${env:} or ${file:} references)", "", ""))
        rows.extend((f"connection: {c.name}", c.status, c.purpose) for c in env.connection)
        rows.extend(
            (f"notification: {n.name}", n.status, ", ".join(n.notifications))
            for n in env.notifications
        )
        width = max(len(row[0]) for row in rows)
        for what, status, who in rows:
            lines.append(f"  {what.ljust(width)}  {status.ljust(len(NOT_SET))}  {who}".rstrip())
    return "\n".join(lines) + "\n"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
