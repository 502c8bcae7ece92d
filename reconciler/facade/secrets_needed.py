"""The secrets a project needs, per environment (`cxrecon secrets`): every `${env:}` /
`${file:}` reference of the connector files, the connection's own secrets and the variables
of `notifications:`, each with whether this process can resolve it now (never its value)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from reconciler.config.project import EnvironmentConfig, Project
from reconciler.config.settings import SETTING_NAMES
from reconciler.errors import SecretResolutionError
from reconciler.load.desired import read_desired
from reconciler.load.references import is_secret_reference
from reconciler.load.secret_lookup import SecretLookup

SET: Final = "set"
NOT_SET: Final = "not set"


@dataclass(frozen=True)
class Reference:
    """One `${env:}` / `${file:}` reference and who uses it."""

    text: str
    kind: str
    name: str
    path: Path | None = None
    available: bool = False
    #: Why it does not resolve here (None when it does).
    detail: str | None = None
    connectors: frozenset[str] = frozenset()

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


def secrets_needed(
    project: Project,
    lookup: SecretLookup,
    environ: Mapping[str, str],
    *,
    environment: str | None = None,
    path: Path | None = None,
) -> tuple[EnvironmentSecrets, ...]:
    """The secrets of `environment` (default: every environment of cxrecon.yaml) for the
    connector files at `path` (default: the project's connectors path), read after each
    environment's `${var:}` values are substituted; `lookup` tells whether each reference
    resolves (the value is dropped at once), `environ` holds the connection and
    notification variables. No network."""
    target = path if path is not None else project.connectors_path
    if environment is not None:
        envs = [project.environment(environment)]
    else:
        envs = list(project.environments.values()) or [project.environment(None)]
    return tuple(_environment_secrets(project, env, target, lookup, environ) for env in envs)


def _environment_secrets(
    project: Project,
    env: EnvironmentConfig,
    target: Path,
    lookup: SecretLookup,
    environ: Mapping[str, str],
) -> EnvironmentSecrets:
    loaded = read_desired(target, env, project=project)
    users: dict[str, set[str]] = {}
    for connector in loaded.connectors:
        for value in connector.spec.authentication.credentials.values():
            if is_secret_reference(value):
                users.setdefault(value, set()).add(connector.spec.name)
    found = [_reference(text, project.root, lookup, names) for text, names in users.items()]
    unloaded = sorted({d.location.path for d in loaded.errors if d.location is not None})
    return EnvironmentSecrets(
        name=env.name if project.environments else None,
        references=tuple(sorted(found, key=lambda r: (r.kind != "env", r.name))),
        connection=_connection_secrets(env, environ),
        unloaded=tuple(unloaded),
        notifications=_notification_secrets(project, env.name, environ),
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


def _reference(text: str, root: Path, lookup: SecretLookup, connectors: set[str]) -> Reference:
    kind, name = text[2:-1].split(":", 1)
    path = None
    if kind == "file":
        file = Path(name)
        path = file if file.is_absolute() else root / file
    try:
        lookup(text)  # the value is dropped: only whether it resolves matters here
    except SecretResolutionError as exc:
        return Reference(text, kind, name, path, False, str(exc), frozenset(connectors))
    return Reference(text, kind, name, path, True, None, frozenset(connectors))


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
