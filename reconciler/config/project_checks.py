"""What is wrong with a `cxrecon.yaml` beyond its YAML: secrets written into it, an undefined
defaultEnvironment, overrides, policies, the schema, notifications and sync windows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from reconciler.celpolicy.compile import policies_from
from reconciler.config.notifications import check_notifications
from reconciler.config.overrides import check_overrides
from reconciler.config.windows import check_windows
from reconciler.documents.schema import project_checker
from reconciler.documents.yamlload import LoadedDocument
from reconciler.model import Diagnostic
from reconciler.secret import looks_secret

_SECRET_ENV_VARS: Final = {"clientsecret": "CXONE_CLIENT_SECRET", "password": "CXONE_PASSWORD"}

#: A path into the project document.
_Path = tuple[str | int, ...]


def check_project(document: LoadedDocument) -> list[Diagnostic]:
    """The project file's problems: secrets, defaultEnvironment, overrides, schema, windows."""
    data = document.data
    out: list[Diagnostic] = []
    secret_paths: set[_Path] = set()
    envs = data.get("environments") if isinstance(data, dict) else None
    if isinstance(envs, dict):
        secrets, secret_paths = _secrets_in_environments(document, envs)
        out.extend(secrets)
    out.extend(_default_environment_problems(document, data, envs))
    out.extend(check_overrides(document))
    out.extend(policies_from(document)[1])
    schema_problems, schema_paths = _schema_problems(document, secret_paths)
    out.extend(schema_problems)
    out.extend(check_notifications(document, schema_paths)[1])
    # What the schema cannot see (cron fields, time zones, zero durations), in the same run;
    # a problem the schema already reported at that spot is not repeated.
    for problem in check_windows(document)[1]:
        said = problem.path in schema_paths or (
            problem.missing and problem.path[:-1] in schema_paths
        )
        if not said:
            out.append(problem.diagnostic)
    return out


def _secrets_in_environments(
    document: LoadedDocument, envs: Mapping[Any, Any]
) -> tuple[list[Diagnostic], set[_Path]]:
    """A diagnostic per secret written into an environment, and the paths they are at."""
    out: list[Diagnostic] = []
    paths: set[_Path] = set()
    for env_name, env in envs.items():
        if not isinstance(env, dict):
            continue
        for path, message in (*_secret_keys(env_name, env), *_secret_vars(env_name, env)):
            paths.add(path)
            out.append(_at(document, path, "secret-in-project", message))
    return out, paths


def _secret_keys(env_name: Any, env: Mapping[Any, Any]) -> list[tuple[_Path, str]]:
    """The environment's secret keys (outside `vars`), with the message for each."""
    found: list[tuple[_Path, str]] = []
    for key in env:
        if key != "vars" and looks_secret(key):
            variable = _SECRET_ENV_VARS.get(key.lower(), "an environment variable")
            found.append(
                (
                    ("environments", env_name, key),
                    f"'{key}' is a secret and "
                    f"cxrecon.yaml is committed; remove it and set {variable} instead",
                )
            )
    return found


def _secret_vars(env_name: Any, env: Mapping[Any, Any]) -> list[tuple[_Path, str]]:
    """The environment's `vars` that look secret, with the message for each."""
    variables = env.get("vars")
    return [
        (
            ("environments", env_name, "vars", var),
            f"variable '{var}' looks "
            "secret but vars are committed; reference the secret with "
            "${env:NAME} or ${file:PATH} in the connector instead",
        )
        for var in (variables if isinstance(variables, dict) else ())
        if looks_secret(var)
    ]


def _default_environment_problems(
    document: LoadedDocument, data: Any, envs: Any
) -> list[Diagnostic]:
    """An error when defaultEnvironment names no defined environment."""
    if isinstance(envs, dict):
        default = data.get("defaultEnvironment")
        if not (isinstance(default, str) and default not in envs):
            return []
        known = ", ".join(sorted(envs)) or "none"
        message = (
            f"defaultEnvironment '{default}' is not defined under environments (defined: {known})"
        )
    elif isinstance(data, dict) and isinstance(data.get("defaultEnvironment"), str):
        message = "defaultEnvironment is set but no environments are defined"
    else:
        return []
    location = document.location_of(("defaultEnvironment",))
    return [Diagnostic("error", message, location, "project")]


def _schema_problems(
    document: LoadedDocument, secret_paths: set[_Path]
) -> tuple[list[Diagnostic], set[_Path]]:
    """The schema's findings (except at secrets already reported), and the paths they are at."""
    out: list[Diagnostic] = []
    schema_paths: set[_Path] = set()
    for finding in project_checker().findings(document.data):
        if finding.path not in secret_paths:
            schema_paths.add(finding.path)
            location = document.key_locations.get(finding.path) if finding.at_key else None
            out.append(
                Diagnostic(
                    "error",
                    finding.message,
                    location or document.location_of(finding.path),
                    "schema",
                )
            )
    return out, schema_paths


def _at(document: LoadedDocument, path: tuple[str | int, ...], rule: str, msg: str) -> Diagnostic:
    location = document.key_locations.get(path) or document.location_of(path)
    return Diagnostic("error", msg, location, rule)
