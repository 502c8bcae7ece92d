"""The `cxrecon.yaml` project file: where connectors live, the environments (tenants and
${var:} values) they apply to, and the safety and sync-polling settings. Never secrets.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from reconciler.celpolicy.compile import PolicySet, policies_from
from reconciler.config.identity import ENVIRONMENT_ENV, PROJECT_ENV, identity_from, no_identity
from reconciler.config.notifications import Notification, check_notifications
from reconciler.config.overrides import Override
from reconciler.config.policies import Policies, Rule, rules_from
from reconciler.config.project_checks import check_project
from reconciler.config.settings import SETTING_NAMES
from reconciler.config.windows import SyncWindow, check_windows
from reconciler.documents.yamlload import LoadedDocument, parse_yaml
from reconciler.errors import ConfigError
from reconciler.model import SourceLocation

PROJECT_FILE: Final = "cxrecon.yaml"
DEFAULT_CONNECTORS: Final = "connectors"
#: Where the upward search for PROJECT_FILE stops (the top of a git work tree).
GIT_MARKER: Final = ".git"

#: Project-file keys that feed ConnectionSettings (settings.SETTING_NAMES, secrets excluded).
CONNECTION_KEYS: Final = tuple(key for _, key in SETTING_NAMES.values() if key is not None)


@dataclass(frozen=True, slots=True)
class SafetyLimits:
    """When a plan needs confirmation (octoDNS-style: too large a share of managed objects)."""

    max_change_fraction: float = 0.3
    min_managed: int = 10
    gate_active_deactivation: bool = True


@dataclass(frozen=True, slots=True)
class SyncPollSettings:
    """Backoff for polling a CRM data-sync job: base·2ⁿ capped, with jitter, bounded overall."""

    base_seconds: float = 0.5
    cap_seconds: float = 10.0
    max_attempts: int = 60
    timeout_seconds: float = 600.0


@dataclass(frozen=True, slots=True)
class EnvironmentConfig:
    """One named environment. `connection` uses the project-file keys of SETTING_NAMES, so
    `ConnectionSettings.from_sources(os.environ, env.connection)` works as is."""

    name: str
    connection: Mapping[str, str] = field(default_factory=dict)
    vars: Mapping[str, str] = field(default_factory=dict)
    tenant: str | None = None
    description: str | None = None
    #: `overrides`: JSON merge patches (RFC 7396) for the connectors whose names match.
    overrides: tuple[Override, ...] = ()

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Picklable (and deep-copyable): read-only mappings are rebuilt as such.
        return _environment_config, (
            self.name,
            dict(self.connection),
            dict(self.vars),
            self.tenant,
            self.description,
            self.overrides,
        )


def _environment_config(
    name: str,
    connection: dict[str, str],
    variables: dict[str, str],
    tenant: str | None,
    description: str | None,
    overrides: tuple[Override, ...],
) -> EnvironmentConfig:
    return EnvironmentConfig(
        name,
        MappingProxyType(connection),
        MappingProxyType(variables),
        tenant,
        description,
        overrides,
    )


@dataclass(frozen=True, slots=True)
class Project:
    """A loaded cxrecon.yaml (or the defaults when there is none)."""

    root: Path
    connectors_path: Path
    environments: Mapping[str, EnvironmentConfig] = field(default_factory=dict)
    default_environment: str | None = None
    safety: SafetyLimits = field(default_factory=SafetyLimits)
    sync_poll: SyncPollSettings = field(default_factory=SyncPollSettings)
    #: The project file, or None when running on defaults.
    file: Path | None = None
    #: Where cxrecon.yaml sets `connectors:` (None when it does not), for "does not exist".
    connectors_location: SourceLocation | None = None
    #: The `syncWindows` (checked: cron fields, time zones, durations), in file order.
    sync_windows: tuple[SyncWindow, ...] = ()
    #: The project's identity: `project:` in cxrecon.yaml, else CXRECON_PROJECT, else None
    #: (never derived from a folder, a path or a commit): see `project_id`.
    name: str | None = None
    #: `previousProjects`: identities whose connectors this project takes over (a plan shows
    #: each as taken over; the apply moves its label).
    previous_projects: tuple[str, ...] = ()
    #: CXRECON_PROJECT where `project:` names another identity (the file wins): writes say so.
    unused_env_project: str | None = None
    #: `ignoreDifferences` and `managementPolicies`, in file order.
    rules: tuple[Rule, ...] = ()
    #: `policies:` (CEL rules every connector must meet: reconciler.celpolicy), checked.
    cel_policies: PolicySet = field(default_factory=PolicySet)
    #: `notifications`: where events are told (reconciler.notify), in file order.
    notifications: tuple[Notification, ...] = ()

    def policies(self, environment: str | None) -> Policies:
        """The rules as they apply in `environment` (a name, or None for the default)."""
        return Policies(self.rules, self.environment_label(environment))

    @property
    def project_id(self) -> str | None:
        """The id in the ownership label of the connectors this project manages: `project:`
        in cxrecon.yaml, else CXRECON_PROJECT; None when neither names one (read-only
        commands then plan as before projects existed; writes are refused: `require_id`)."""
        return self.name or None

    def identity_warning(self) -> str | None:
        """What a write says when CXRECON_PROJECT names another identity than `project:`."""
        if self.unused_env_project is None:
            return None
        return (
            f"warning: {PROJECT_ENV}={self.unused_env_project} is not used: "
            f"{self._where()} names `project: {self.name}`, which wins; unset {PROJECT_ENV} "
            "or make the two agree"
        )

    def require_id(self) -> str:
        """The project's identity, for a command that writes to CXone; ConfigError (one
        line) when there is none: a folder name is not an identity (a clone, a worktree or
        a git-sync checkout is named otherwise, and two teams' folders can share a name)."""
        if self.name:
            return self.name
        no_identity(self._where())

    def write_environment(self, name: str | None) -> EnvironmentConfig:
        """The environment a write goes to: `name`; without one, the only environment.

        `defaultEnvironment` serves read-only commands: a write to a project of several
        environments names its own, so no write reaches a tenant by default.
        """
        if name is None and len(self.environments) > 1:
            raise ConfigError(
                f"{self._where()} defines {len(self.environments)} environments "
                f"({', '.join(sorted(self.environments))}): a write names its environment; "
                f"pass -e NAME or set {ENVIRONMENT_ENV} (defaultEnvironment "
                f"{self.default_environment or '(unset)'} serves read-only commands only)"
            )
        return self.environment(name)

    def environment(self, name: str | None) -> EnvironmentConfig:
        """The named environment; without a name, the default one.

        With no environments configured, an empty "default" environment (no vars).
        """
        if name is None:
            if self.default_environment is not None:
                return self.environments[self.default_environment]
            if not self.environments:
                return EnvironmentConfig("default")
            if len(self.environments) == 1:
                return next(iter(self.environments.values()))
            raise ConfigError(
                f"{self._where()} defines several environments "
                f"({', '.join(sorted(self.environments))}) and no defaultEnvironment; "
                "pass -e NAME or set defaultEnvironment"
            )
        found = self.environments.get(name)
        if found is None:
            known = ", ".join(sorted(self.environments)) or "none defined"
            raise ConfigError(
                f"unknown environment '{name}' (known: {known}); add it under `environments` "
                f"in {self._where()}"
            )
        return found

    def environment_label(self, name: str | None) -> str | None:
        """The environment name plans, reports and the audit log show: None when the
        project defines no environments and none was asked for (the implicit default)."""
        return self.environment(name).name if (name or self.environments) else None

    def _where(self) -> str:
        return display_path(self.file) if self.file is not None else PROJECT_FILE

    def require_found(self, path: Path | str | None) -> None:
        """ConfigError when a command runs outside a project: no cxrecon.yaml was found, no
        PATH was given, and there is no `connectors/` here either. Raised before anything is
        opened or created (no `.cxrecon/` appears where the command ran)."""
        if self.file is None and path is None and not self.connectors_path.exists():
            raise ConfigError(
                f"no {PROJECT_FILE} in {self.root} or above (up to the repository root); "
                "run `cxrecon init`, or pass a PATH"
            )


def load_project(start: Path | None = None, environ: Mapping[str, str] | None = None) -> Project:
    """Load `cxrecon.yaml` from the folder `start`, or, without `start`, from the working
    directory or the nearest parent that has one (as git finds `.git`: see
    `find_project_file`). The folder holding the file is the project root, and the
    connectors path and `${file:}` references are relative to it.

    No file means defaults (connectors in <root>/connectors, no environments; the root is
    `start` or the working directory). A bad file raises ConfigError carrying a Diagnostic
    per problem. The identity is `project:`, else CXRECON_PROJECT of `environ` (default: the
    process environment), else none.
    """
    environ = os.environ if environ is None else environ
    if start is not None:
        root = start.resolve()
        path = root / PROJECT_FILE
    else:
        cwd = Path.cwd().resolve()
        found = find_project_file(cwd)
        path = found if found is not None else cwd / PROJECT_FILE
        root = path.parent
    from_env = identity_from(environ)
    if not path.is_file():
        return Project(root=root, connectors_path=root / DEFAULT_CONNECTORS, name=from_env)
    display = display_path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {display}: {exc.strerror or exc}") from None
    parsed = parse_yaml(raw, display)
    if [d.rule for d in parsed.diagnostics] == ["yaml-empty"]:
        # A project file with only comments is a project on defaults.
        return Project(
            root=root, connectors_path=root / DEFAULT_CONNECTORS, file=path, name=from_env
        )
    diagnostics = list(parsed.diagnostics)
    if parsed.document is not None:
        diagnostics.extend(check_project(parsed.document))
    if any(d.severity == "error" for d in diagnostics):
        diagnostics.sort(key=lambda d: (d.location.line, d.location.col) if d.location else (0, 0))
        raise ConfigError(
            f"{display} is invalid:\n" + "\n".join(f"  {d}" for d in diagnostics), diagnostics
        )
    assert parsed.document is not None
    built = _build(parsed.document, root, path)
    if built.name is None and from_env is not None:
        built = dataclasses.replace(built, name=from_env)
    elif from_env is not None and from_env != built.name:
        built = dataclasses.replace(built, unused_env_project=from_env)
    return built


def find_project_file(start: Path) -> Path | None:
    """The `cxrecon.yaml` in `start` or its nearest parent that has one, or None.

    The search stops at the filesystem root, or at a folder holding `.git` (a folder, or a
    file in a worktree or submodule) once that folder has been checked: a project file above
    the repository belongs to something else.
    """
    for folder in (start, *start.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
        if (folder / GIT_MARKER).exists():
            return None
    return None


def display_path(path: Path) -> str:
    """`path` as messages show it: relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _build(document: LoadedDocument, root: Path, path: Path) -> Project:
    data = document.data if isinstance(document.data, dict) else {}
    connectors_location = (
        document.key_locations.get(("connectors",)) if "connectors" in data else None
    )
    connectors = root / str(data.get("connectors", DEFAULT_CONNECTORS))
    environments = {
        name: _environment(name, env or {}, document.key_locations)
        for name, env in (data.get("environments") or {}).items()
    }
    safety_data = data.get("safety") or {}
    defaults = SafetyLimits()
    safety = SafetyLimits(
        max_change_fraction=float(
            safety_data.get("maxChangeFraction", defaults.max_change_fraction)
        ),
        min_managed=int(safety_data.get("minManaged", defaults.min_managed)),
        gate_active_deactivation=bool(
            safety_data.get("gateActiveDeactivation", defaults.gate_active_deactivation)
        ),
    )
    sync_data = data.get("sync") or {}
    poll = SyncPollSettings()
    sync_poll = SyncPollSettings(
        base_seconds=float(sync_data.get("pollBaseSeconds", poll.base_seconds)),
        cap_seconds=float(sync_data.get("pollCapSeconds", poll.cap_seconds)),
        max_attempts=int(sync_data.get("pollMaxAttempts", poll.max_attempts)),
        timeout_seconds=float(sync_data.get("pollTimeoutSeconds", poll.timeout_seconds)),
    )
    name = data.get("project")
    return Project(
        name=name,
        previous_projects=tuple(
            dict.fromkeys(str(p) for p in data.get("previousProjects") or () if p != name)
        ),
        rules=rules_from(data),
        cel_policies=policies_from(document)[0],
        root=root,
        connectors_path=connectors,
        environments=MappingProxyType(environments),
        default_environment=data.get("defaultEnvironment"),
        safety=safety,
        sync_poll=sync_poll,
        file=path,
        connectors_location=connectors_location,
        sync_windows=check_windows(document)[0],
        notifications=check_notifications(document, set())[0],
    )


def _environment(
    name: str, env: Mapping[str, Any], locations: Mapping[tuple[str | int, ...], SourceLocation]
) -> EnvironmentConfig:
    connection: dict[str, str] = {}
    for key in CONNECTION_KEYS:
        value = env.get(key)
        if value is None:
            continue
        if isinstance(value, list):
            connection[key] = " ".join(str(v) for v in value)
        else:
            connection[key] = str(value)
    variables = {str(k): _text(v) for k, v in (env.get("vars") or {}).items()}
    return EnvironmentConfig(
        name=name,
        connection=MappingProxyType(connection),
        vars=MappingProxyType(variables),
        tenant=env.get("tenant"),
        description=env.get("description"),
        overrides=tuple(
            Override.at(str(glob), patch, ("environments", name, "overrides", glob), locations)
            for glob, patch in (env.get("overrides") or {}).items()
            if isinstance(patch, dict)
        ),
    )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
