"""Where cxrecon may send credentials and whom it trusts: endpoint URLs must be https (plain
http only to this machine), and TLS verifies against the system's CAs or CXONE_CA_BUNDLE."""

from __future__ import annotations

import ssl

import httpx

from reconciler.config.settings import ConnectionSettings, is_loopback
from reconciler.errors import ConfigError


def require_secure_url(url: str, setting: str) -> None:
    """HTTPS, or plain HTTP to this machine only; ConfigError naming the setting otherwise."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise ConfigError(f"{setting} is not a valid URL: {url!r}") from None
    if not parsed.scheme or not parsed.host:
        raise ConfigError(
            f"{setting} is not a full URL: {url!r}; write it with its scheme and host, "
            "e.g. https://api-na1.niceincontact.com/api/v2"
        )
    if parsed.scheme == "https":
        return
    if parsed.scheme == "http" and is_loopback(parsed.host):
        return
    raise ConfigError(
        f"{setting} must use https:// (plain http is only allowed to 127.0.0.1, ::1 or "
        f"localhost), got {parsed.scheme}://{parsed.host}"
    )


def tls_verify(settings: ConnectionSettings) -> ssl.SSLContext | bool:
    """What httpx verifies servers with: the system's CAs, or the CA bundle configured."""
    if not settings.ca_bundle:
        return True
    try:
        return ssl.create_default_context(cafile=settings.ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"CXONE_CA_BUNDLE {settings.ca_bundle!r} cannot be used as a CA bundle "
            f"({type(exc).__name__}); point it at a PEM file of trusted certificates"
        ) from None
