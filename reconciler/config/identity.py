"""A project's identity (`project:` in cxrecon.yaml, else CXRECON_PROJECT; never a folder) and
the checks a command that writes to CXone passes first: docs/identity.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, NoReturn, Protocol

from reconciler.config.settings import is_loopback_url
from reconciler.errors import ConfigError

#: Names the project where cxrecon.yaml has no `project:` (a CI job, a controller's Deployment).
PROJECT_ENV: Final = "CXRECON_PROJECT"
#: What `project:` and CXRECON_PROJECT may hold: a label value (schemas/project.schema.json).
PROJECT_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")

#: Names the environment of a command where -e is not given.
ENVIRONMENT_ENV: Final = "CXRECON_ENVIRONMENT"


def no_identity(where: str) -> NoReturn:
    """Refuse a write without an identity (`where`: the project file as messages show it)."""
    raise ConfigError(
        f"{where} has no `project:` (the identity in the ownership label of the connectors "
        f"this repository manages) and {PROJECT_ENV} is not set, so nothing is written to "
        "CXone; add `project: NAME` to cxrecon.yaml (`cxrecon init --project NAME` writes "
        "one), or set CXRECON_PROJECT"
    )


class WriteTarget(Protocol):
    """What the check reads of an environment (reconciler.config.project.EnvironmentConfig;
    a protocol, so that this module, which the project file's reading uses, needs no import
    of it back)."""

    @property
    def name(self) -> str: ...
    @property
    def tenant(self) -> str | None: ...
    @property
    def connection(self) -> Mapping[str, str]: ...


def check_write_target(
    env: WriteTarget, environ: Mapping[str, str], *, emulated: bool = False
) -> None:
    """ConfigError (one line naming both) when the process environment's connection
    settings point at another tenant than the environment a write was asked for: its
    `baseUrl` (or `discovery`) in cxrecon.yaml. An embedded emulator is no tenant, nor are
    two loopback addresses (local emulators, whose ports change from run to run)."""
    if emulated:
        return
    for key, variable in (("baseUrl", "CXONE_BASE_URL"), ("discovery", "CXONE_DISCOVERY_URL")):
        configured = env.connection.get(key)
        given = environ.get(variable)
        if not (configured and given) or _url_key(configured) == _url_key(given):
            continue
        if not (is_loopback_url(configured) and is_loopback_url(given)):
            tenant = f" (tenant {env.tenant})" if env.tenant else ""
            raise ConfigError(
                f"{variable}={given} points at another tenant than environment "
                f"'{env.name}'{tenant}, whose {key} is {configured}; nothing was written. "
                f"Unset {variable}, or pass the -e NAME of the environment it belongs to"
            )


def _url_key(url: str) -> str:
    """A URL compared as a tenant's address: scheme and host case-blind, no trailing `/`."""
    text = url.strip().rstrip("/")
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    host, slash, tail = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{tail}"


def identity_from(environ: Mapping[str, str]) -> str | None:
    """CXRECON_PROJECT, checked as `project:` is (a label value); None when unset."""
    value = environ.get(PROJECT_ENV, "").strip()
    if not value:
        return None
    if PROJECT_ID_PATTERN.fullmatch(value) is None:
        raise ConfigError(
            f"{PROJECT_ENV}={value!r} is not a project id; use 1-63 letters, digits, '.', "
            "'_' or '-', starting and ending with a letter or digit"
        )
    return value
