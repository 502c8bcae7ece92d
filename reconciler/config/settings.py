"""Connection settings for a CXone tenant, read from the environment (see the README).

`CXONE_BASE_URL`, `CXONE_TOKEN_URL`, `CXONE_CLIENT_ID`, `CXONE_CLIENT_SECRET`,
`CXONE_GRANT`, `CXONE_USERNAME`, `CXONE_PASSWORD`; a project file may supply
defaults for the non-secret ones (environment variables win).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from reconciler.errors import ConfigError
from reconciler.secret import Secret

Grant = Literal["client_credentials", "password"]
TokenBody = Literal["form", "json"]

DEFAULT_SCOPES: Final = ("crm:connectors:read", "crm:connectors:write")
EMULATOR_CLIENT_ID: Final = "demo-client"
EMULATOR_CLIENT_SECRET: Final = "demo-secret"  # noqa: S105 - the emulator's documented demo client

#: Setting name → (environment variable, project-file key).
SETTING_NAMES: Final = {
    "base_url": ("CXONE_BASE_URL", "baseUrl"),
    "token_url": ("CXONE_TOKEN_URL", "tokenUrl"),
    "client_id": ("CXONE_CLIENT_ID", "clientId"),
    "client_secret": ("CXONE_CLIENT_SECRET", None),
    "grant": ("CXONE_GRANT", "grant"),
    "username": ("CXONE_USERNAME", "username"),
    "password": ("CXONE_PASSWORD", None),
    "token_body": ("CXONE_TOKEN_BODY", "tokenBody"),
    "scopes": ("CXONE_SCOPES", "scopes"),
    "ca_bundle": ("CXONE_CA_BUNDLE", "caBundle"),
    "timeout": ("CXONE_TIMEOUT", "timeoutSeconds"),
}


@dataclass(frozen=True)
class ConnectionSettings:
    """How to reach and authenticate to one tenant. Secrets are wrapped in `Secret`."""

    base_url: str
    token_url: str
    client_id: str
    client_secret: Secret
    grant: Grant = "client_credentials"
    username: str | None = None
    password: Secret | None = None
    token_body: TokenBody = "form"  # noqa: S105 - a body encoding, not a secret
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    ca_bundle: str | None = None
    timeout: float = 10.0

    @classmethod
    def for_emulator(cls, base_url: str) -> ConnectionSettings:
        """The embedded emulator's documented demo client."""
        base = base_url.rstrip("/")
        return cls(
            base_url=base,
            token_url=f"{base}/oauth/token",
            client_id=EMULATOR_CLIENT_ID,
            client_secret=Secret(EMULATOR_CLIENT_SECRET),
        )

    @classmethod
    def from_sources(
        cls, environ: Mapping[str, str], project: Mapping[str, str] | None = None
    ) -> ConnectionSettings:
        """Environment variables first, then the project file's non-secret values.

        Raises ConfigError naming the missing setting and how to provide it.
        """
        project = project or {}

        def get(name: str) -> str | None:
            env_var, key = SETTING_NAMES[name]
            value = environ.get(env_var)
            if value:
                return value
            if key is not None and project.get(key):
                return str(project[key])
            return None

        def need(name: str) -> str:
            value = get(name)
            if value is None:
                env_var, key = SETTING_NAMES[name]
                where = f"set {env_var}"
                if key is not None:
                    where += f" or `{key}` for the environment in cxrecon.yaml"
                raise ConfigError(
                    f"missing connection setting {name}: {where} "
                    "(or pass --emulator to use the embedded emulator)"
                )
            return value

        base_url = need("base_url").rstrip("/")
        grant = get("grant") or "client_credentials"
        if grant not in ("client_credentials", "password"):
            raise ConfigError(f"CXONE_GRANT must be client_credentials or password, not {grant!r}")
        token_body = get("token_body") or "form"
        if token_body not in ("form", "json"):
            raise ConfigError(f"CXONE_TOKEN_BODY must be form or json, not {token_body!r}")
        username: str | None = None
        password: Secret | None = None
        if grant == "password":
            username = need("username")
            password = Secret(need("password"))
        scopes_raw = get("scopes")
        scopes = tuple(scopes_raw.replace(",", " ").split()) if scopes_raw else DEFAULT_SCOPES
        timeout_raw = get("timeout")
        try:
            timeout = float(timeout_raw) if timeout_raw else 10.0
        except ValueError:
            timeout = math.nan
        if not math.isfinite(timeout) or timeout <= 0:
            raise ConfigError(
                f"CXONE_TIMEOUT must be a positive number of seconds, not {timeout_raw!r}"
            )
        return cls(
            base_url=base_url,
            token_url=get("token_url") or f"{base_url}/oauth/token",
            client_id=need("client_id"),
            client_secret=Secret(need("client_secret")),
            grant=grant,  # type: ignore[arg-type]
            username=username,
            password=password,
            token_body=token_body,  # type: ignore[arg-type]
            scopes=scopes,
            ca_bundle=get("ca_bundle"),
            timeout=timeout,
        )
