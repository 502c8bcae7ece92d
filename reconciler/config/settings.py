"""Connection settings for a CXone tenant, read from the environment (see the README).

`CXONE_BASE_URL`, `CXONE_TOKEN_URL`, `CXONE_CLIENT_ID`, `CXONE_CLIENT_SECRET`,
`CXONE_GRANT`, `CXONE_USERNAME`, `CXONE_PASSWORD`; a project file may supply
defaults for the non-secret ones (environment variables win).

`CXONE_MAX_CONNECTORS` (default 50,000) and `CXONE_MAX_LISTING_BYTES` (default 256 MiB;
`maxConnectors` / `maxListingBytes` in cxrecon.yaml) bound what a listing of the tenant may
hold (reconciler.cxone.listing), so a server that never stops listing cannot exhaust memory.

Instead of the base URL, `CXONE_DISCOVERY_URL` (`discovery` in cxrecon.yaml) names the
tenant's discovery document, as real CXone tenants are found: the client reads the API and
token endpoints from it once per run (reconciler.cxone.discovery). A base URL, where set,
wins over discovery.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final, Literal
from urllib.parse import urlsplit

from reconciler.errors import ConfigError
from reconciler.secret import Secret

log = logging.getLogger(__name__)

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
    "discovery_url": ("CXONE_DISCOVERY_URL", "discovery"),
    "discovery_api_field": ("CXONE_DISCOVERY_API_FIELD", None),
    "discovery_token_field": ("CXONE_DISCOVERY_TOKEN_FIELD", None),
    "discovery_api_path": ("CXONE_DISCOVERY_API_PATH", None),
    "discovery_hosts": ("CXONE_DISCOVERY_HOSTS", None),
    "max_connectors": ("CXONE_MAX_CONNECTORS", "maxConnectors"),
    "max_listing_bytes": ("CXONE_MAX_LISTING_BYTES", "maxListingBytes"),
}

#: Prefixes of environment variables that hold cxrecon's own or its CI runner's credentials:
#: the CXone connection settings, GitHub's (GitHub refuses user secrets named GITHUB_*) and
#: the Actions runner's (ACTIONS_ID_TOKEN_REQUEST_TOKEN, ACTIONS_RUNTIME_TOKEN).
RESERVED_ENV_PREFIXES: Final = ("CXONE_", "GITHUB_", "ACTIONS_")
#: Variables cxrecon reads, by name: every connection setting, the embedded emulator's
#: client secret, and the GitHub CLI's tokens.
RESERVED_ENV_NAMES: Final = frozenset(
    {env for env, _ in SETTING_NAMES.values()}
    | {"CXRECON_EMULATOR_CLIENT_SECRET", "GITHUB_TOKEN", "GH_TOKEN", "GH_ENTERPRISE_TOKEN"}
)


def is_reserved_variable(name: str) -> bool:
    """True for an environment variable holding cxrecon's or its CI runner's credentials
    (connector files and notification URLs may not reference one)."""
    upper = name.upper()  # Windows environment names are case-insensitive
    return upper in RESERVED_ENV_NAMES or upper.startswith(RESERVED_ENV_PREFIXES)


def is_loopback(host: str) -> bool:
    """localhost (any case, with or without the root's trailing dot), or a loopback address
    (127.0.0.0/8, ::1, IPv6 with or without its brackets)."""
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """Whether `url`'s host is this machine; False for a URL that does not parse."""
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return False
    return is_loopback(host or "")


MiB: Final = 1024 * 1024
#: More connectors than any tenant holds (a large one has a few thousand), few enough that
#: a listing of them fits in memory many times over.
DEFAULT_MAX_CONNECTORS: Final = 50_000
#: The memory one listing may take (its pages as they arrive, then the connectors read
#: from them): a tenant of 10,000 connectors with 20 mappings each takes about 70 MiB, and
#: whatever the server sends, `cxrecon plan` stays under 600 MB.
DEFAULT_MAX_LISTING_BYTES: Final = 256 * MiB
_BYTE_UNITS: Final = {"": 1, "b": 1, "kib": 1024, "mib": MiB, "gib": 1024 * MiB}
_SIZE: Final = re.compile(r"(\d{1,15})\s*([A-Za-z]*)")

#: The discovery document's field holding the API host (as CXone's
#: `/.well-known/cxone-configuration` names it) and the one holding the OAuth token URL.
DEFAULT_DISCOVERY_API_FIELD: Final = "api_endpoint"
DEFAULT_DISCOVERY_TOKEN_FIELD: Final = "token_endpoint"  # noqa: S105 - a field name
#: Appended to the discovered API endpoint unless it already ends with it: where the
#: CRM-connector surface lives on the API host.
DEFAULT_DISCOVERY_API_PATH: Final = "/api/v2"


def display_url(url: str) -> str:
    """`url` as messages and logs show it: no user info, no query or fragment (`?…` marks
    a dropped query), so a credential written into a URL never reaches a message."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<not a valid URL>"
    if not parts.scheme or not host:
        return "<not a full URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    query = "?…" if parts.query else ""
    return f"{parts.scheme}://{netloc}{parts.path}{query}"


@dataclass(frozen=True)
class DiscoverySettings:
    """Where the tenant's discovery document is and how to read it."""

    url: str
    api_field: str = DEFAULT_DISCOVERY_API_FIELD
    token_field: str = DEFAULT_DISCOVERY_TOKEN_FIELD
    #: "" when the discovered endpoint is used as it is.
    api_path: str = DEFAULT_DISCOVERY_API_PATH
    #: Host patterns (fnmatch, lower-case) the discovered endpoints must match; () = any.
    allowed_hosts: tuple[str, ...] = ()


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
    #: Set when the endpoints come from a discovery document: until the client has read it
    #: (`resolved`), `base_url` is "" and `token_url` is "" unless given explicitly.
    discovery: DiscoverySettings | None = None
    #: A listing of more connectors, or of more decoded bytes, stops with an error naming
    #: CXONE_MAX_CONNECTORS / CXONE_MAX_LISTING_BYTES.
    max_connectors: int = DEFAULT_MAX_CONNECTORS
    max_listing_bytes: int = DEFAULT_MAX_LISTING_BYTES

    @property
    def needs_discovery(self) -> bool:
        """Whether the API base URL is still to be read from the discovery document."""
        return self.discovery is not None and not self.base_url

    def resolved(self, base_url: str, token_url: str) -> ConnectionSettings:
        """These settings with the endpoints the discovery document gave."""
        return replace(self, base_url=base_url.rstrip("/"), token_url=token_url)

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
        sources = _Sources(environ, project or {})
        base_url, discovery = _endpoint(sources)
        grant = sources.get("grant") or "client_credentials"
        if grant not in ("client_credentials", "password"):
            raise ConfigError(f"CXONE_GRANT must be client_credentials or password, not {grant!r}")
        token_body = sources.get("token_body") or "form"
        if token_body not in ("form", "json"):
            raise ConfigError(f"CXONE_TOKEN_BODY must be form or json, not {token_body!r}")
        username: str | None = None
        password: Secret | None = None
        if grant == "password":
            username = sources.need("username")
            password = Secret(sources.need("password"))
        scopes_raw = sources.get("scopes")
        scopes = tuple(scopes_raw.replace(",", " ").split()) if scopes_raw else DEFAULT_SCOPES
        timeout = _timeout(sources.get("timeout"))
        token_url = sources.get("token_url") or (f"{base_url}/oauth/token" if base_url else "")
        return cls(
            base_url=base_url,
            token_url=token_url,
            client_id=sources.need("client_id"),
            client_secret=Secret(sources.need("client_secret")),
            grant=grant,  # type: ignore[arg-type]
            username=username,
            password=password,
            token_body=token_body,  # type: ignore[arg-type]
            scopes=scopes,
            ca_bundle=sources.get("ca_bundle"),
            timeout=timeout,
            discovery=discovery,
            max_connectors=_bound(sources, "max_connectors", DEFAULT_MAX_CONNECTORS),
            max_listing_bytes=_bound(sources, "max_listing_bytes", DEFAULT_MAX_LISTING_BYTES),
        )


@dataclass(frozen=True)
class _Sources:
    """The environment and the project file's values, read setting by setting."""

    environ: Mapping[str, str]
    project: Mapping[str, str]

    def get(self, name: str) -> str | None:
        """Setting `name` from its variable, else its project-file key; None if neither."""
        env_var, key = SETTING_NAMES[name]
        value = self.environ.get(env_var)
        if value:
            return value
        if key is not None and self.project.get(key):
            return str(self.project[key])
        return None

    def need(self, name: str, alternative: str = "") -> str:
        """Setting `name`; ConfigError naming how to provide it when it is missing."""
        value = self.get(name)
        if value is None:
            env_var, key = SETTING_NAMES[name]
            where = f"set {env_var}"
            if key is not None:
                where += f" or `{key}` for the environment in cxrecon.yaml"
            raise ConfigError(
                f"missing connection setting {name}: {where} "
                f"({alternative}or pass --emulator to use the embedded emulator)"
            )
        return value


def _endpoint(sources: _Sources) -> tuple[str, DiscoverySettings | None]:
    """The base URL ("" when it is to be discovered) and the discovery settings, if used."""
    discovery_url = sources.get("discovery_url")
    base_url = sources.get("base_url")
    if base_url is not None and discovery_url is not None:
        log.debug(
            "both %s and %s are set: the base URL wins, so the discovery document %s is not read",
            _source("base_url", sources.environ),
            _source("discovery_url", sources.environ),
            display_url(discovery_url),
        )
    if base_url is None and discovery_url is not None:
        return "", _discovery_settings(discovery_url, sources.environ)
    base_url = sources.need(
        "base_url",
        "or CXONE_DISCOVERY_URL / `discovery` to read it from the tenant's discovery document, ",
    ).rstrip("/")
    return base_url, None


def _timeout(raw: str | None) -> float:
    """The request timeout in seconds (10 when unset); ConfigError unless positive and finite."""
    try:
        timeout = float(raw) if raw else 10.0
    except ValueError:
        timeout = math.nan
    if not math.isfinite(timeout) or timeout <= 0:
        raise ConfigError(f"CXONE_TIMEOUT must be a positive number of seconds, not {raw!r}")
    return timeout


def _bound(sources: _Sources, name: str, default: int) -> int:
    """A listing bound: a positive whole number (of bytes, for max_listing_bytes, where
    KiB, MiB and GiB may follow: `512MiB`); `default` when unset."""
    raw = sources.get(name)
    if raw is None:
        return default
    found = _SIZE.fullmatch(raw.strip())
    units = _BYTE_UNITS if name == "max_listing_bytes" else {"": 1}
    unit = found.group(2).lower() if found else ""
    if found is None or unit not in units or int(found.group(1)) < 1:
        what = "a number of bytes such as 268435456 or 256MiB" if len(units) > 1 else "a count"
        raise ConfigError(
            f"{_source(name, sources.environ)} must be {what}, at least 1, not {raw!r}"
        )
    return int(found.group(1)) * units[unit]


def _source(name: str, environ: Mapping[str, str]) -> str:
    """Where setting `name` came from, for messages: its variable or its cxrecon.yaml key."""
    env_var, key = SETTING_NAMES[name]
    return env_var if environ.get(env_var) or key is None else f"`{key}` in cxrecon.yaml"


def _discovery_settings(url: str, environ: Mapping[str, str]) -> DiscoverySettings:
    """The discovery settings; the field names, path and host list come from the environment."""
    fields: dict[str, str] = {}
    for name, default in (
        ("discovery_api_field", DEFAULT_DISCOVERY_API_FIELD),
        ("discovery_token_field", DEFAULT_DISCOVERY_TOKEN_FIELD),
    ):
        env_var = SETTING_NAMES[name][0]
        value = (environ.get(env_var) or default).strip()
        if not value or not value.isprintable():
            raise ConfigError(
                f"{env_var} must name a field of the discovery document, not {value!r}"
            )
        fields[name] = value
    path_var = SETTING_NAMES["discovery_api_path"][0]
    raw_path = environ.get(path_var)
    api_path = DEFAULT_DISCOVERY_API_PATH if raw_path is None else raw_path.strip()
    api_path = api_path.rstrip("/")
    if api_path and (
        not api_path.startswith("/")
        or any(ch in api_path for ch in "?#%\\")
        or not (api_path.isascii() and api_path.isprintable())
        or " " in api_path
    ):
        raise ConfigError(
            f"{path_var} must be a URL path such as /api/v2 (or empty, or /, to use the "
            f"discovered API endpoint as it is), not {raw_path!r}"
        )
    hosts_var = SETTING_NAMES["discovery_hosts"][0]
    hosts = tuple(
        pattern.lower() for pattern in (environ.get(hosts_var) or "").replace(",", " ").split()
    )
    for pattern in hosts:
        if not all(ch.isalnum() or ch in ".-*?[]:" for ch in pattern):
            raise ConfigError(
                f"{hosts_var} is a list of host names or patterns such as "
                f"*.niceincontact.com, separated by spaces or commas; {pattern!r} is not one"
            )
    return DiscoverySettings(
        url=url.strip(),
        api_field=fields["discovery_api_field"],
        token_field=fields["discovery_token_field"],
        api_path=api_path,
        allowed_hosts=hosts,
    )
