"""`cxrecon secrets`: the ${env:NAME} / ${file:PATH} references the project needs, per
environment, with the connectors using each and whether this process can resolve it now.
Never a value: a resolved secret is dropped as soon as it is known to resolve.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from reconciler.cli.common import environment_option, format_option
from reconciler.config.settings import SETTING_NAMES
from reconciler.errors import SecretResolutionError

if TYPE_CHECKING:
    from reconciler.config.project import EnvironmentConfig, Project
    from reconciler.load.secret_lookup import SecretLookup

SET: Final = "set"
NOT_SET: Final = "not set"


@dataclass
class Reference:
    """One `${env:}` / `${file:}` reference and who uses it."""

    text: str
    kind: str
    name: str
    path: Path | None = None
    available: bool = False
    detail: str | None = None
    connectors: set[str] = field(default_factory=set)

    @property
    def status(self) -> str:
        return SET if self.available else NOT_SET


@dataclass(frozen=True)
class ConnectionSecret:
    """A secret cxrecon itself needs to reach the tenant (never in a file)."""

    name: str
    purpose: str
    available: bool

    @property
    def status(self) -> str:
        return SET if self.available else NOT_SET


@dataclass(frozen=True)
class NotificationSecret:
    """A variable a notification URL of `notifications:` is made of (`${env:NAME}`)."""

    name: str
    notifications: tuple[str, ...]
    available: bool

    @property
    def status(self) -> str:
        return SET if self.available else NOT_SET


@dataclass(frozen=True)
class EnvironmentSecrets:
    name: str | None
    references: tuple[Reference, ...]
    connection: tuple[ConnectionSecret, ...]
    #: Connector files that did not load in this environment (their references are unknown).
    unloaded: tuple[str, ...]
    notifications: tuple[NotificationSecret, ...] = ()


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
    from reconciler.facade import open_project, secrets_for

    project = open_project()
    project.require_found(path)  # outside a project: one line naming cxrecon.yaml (issue 24)
    lookup = secrets_for(project)
    target = path if path is not None else project.connectors_path
    listed = [
        _environment_secrets(project, env, target, lookup)
        for env in _environments(project, environment)
    ]
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


def _environments(project: Project, name: str | None) -> list[EnvironmentConfig]:
    if name is not None:
        return [project.environment(name)]
    return list(project.environments.values()) or [project.environment(None)]


def _environment_secrets(
    project: Project, env: EnvironmentConfig, target: Path, lookup: SecretLookup
) -> EnvironmentSecrets:
    from reconciler.load.desired import load_desired
    from reconciler.load.references import is_secret_reference

    loaded = load_desired(target, env, project=project)
    found: dict[str, Reference] = {}
    for connector in loaded.connectors:
        for value in connector.spec.authentication.credentials.values():
            if not is_secret_reference(value):
                continue
            reference = found.get(value)
            if reference is None:
                reference = found[value] = _reference(value, project.root, lookup)
            reference.connectors.add(connector.spec.name)
    unloaded = sorted({d.location.path for d in loaded.errors if d.location is not None})
    return EnvironmentSecrets(
        name=env.name if project.environments else None,
        references=tuple(sorted(found.values(), key=lambda r: (r.kind != "env", r.name))),
        connection=_connection_secrets(env, os.environ),
        unloaded=tuple(unloaded),
        notifications=_notification_secrets(project, env.name, os.environ),
    )


def _notification_secrets(
    project: Project, environment: str, environ: Mapping[str, str]
) -> tuple[NotificationSecret, ...]:
    """The variables of the URLs of the destinations told about `environment`."""
    users: dict[str, list[str]] = {}
    for n in project.notifications:
        if n.environments is None or environment in n.environments:
            for variable in dict.fromkeys(n.variables):
                users.setdefault(variable, []).append(n.name)
    return tuple(
        NotificationSecret(name, tuple(names), bool(environ.get(name)))
        for name, names in sorted(users.items())
    )


def _reference(text: str, root: Path, lookup: SecretLookup) -> Reference:
    kind, name = text[2:-1].split(":", 1)
    reference = Reference(text=text, kind=kind, name=name)
    if kind == "file":
        file = Path(name)
        reference.path = file if file.is_absolute() else root / file
    try:
        lookup(text)  # the value is dropped: only whether it resolves matters here
    except SecretResolutionError as exc:
        reference.detail = str(exc)
    else:
        reference.available = True
    return reference


def _connection_secrets(
    env: EnvironmentConfig, environ: Mapping[str, str]
) -> tuple[ConnectionSecret, ...]:
    secret_var = SETTING_NAMES["client_secret"][0]
    needed = [
        ConnectionSecret(
            secret_var, "OAuth client secret (not with --emulator)", bool(environ.get(secret_var))
        )
    ]
    grant_var, grant_key = SETTING_NAMES["grant"]
    grant = environ.get(grant_var) or (env.connection.get(grant_key) if grant_key else None)
    if grant == "password":
        password_var = SETTING_NAMES["password"][0]
        needed.append(
            ConnectionSecret(
                password_var, "password of the password grant", bool(environ.get(password_var))
            )
        )
    return tuple(needed)


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
