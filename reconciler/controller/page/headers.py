"""Headers of the controller's HTTP server: the `Host` names it answers to (DNS rebinding), and
the response headers (the status page loads nothing but its own stylesheet and icon, runs no
script and is never framed; no response is content-sniffed).

Kept apart from the page itself so the server imports no template machinery to use them.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from reconciler.errors import ConfigError

log = logging.getLogger("cxrecon.controller")

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def security_headers(content_type: str) -> str:
    """Extra response header lines (each ending in CRLF) for a response of `content_type`."""
    lines = "X-Content-Type-Options: nosniff\r\n"
    if content_type.startswith("text/html"):
        lines += (
            f"Content-Security-Policy: {CONTENT_SECURITY_POLICY}\r\n"
            "Referrer-Policy: no-referrer\r\n"
            "X-Frame-Options: DENY\r\n"
        )
    return lines


#: A DNS name: dot-separated labels of letters, digits, `-` and `_` (lower-cased first).
_NAME: Final = re.compile(
    r"(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*"
)
#: Refused names logged (once each) before the log stops naming more: a scanner must not flood it.
_LOGGED_NAMES: Final = 32
_SOURCE: Final = "--allowed-host (CXRECON_ALLOWED_HOSTS)"
MISDIRECTED: Final = (
    "misdirected request: this controller does not answer to that host name; "
    "allow it with --allowed-host NAME or CXRECON_ALLOWED_HOSTS\n"
)


@dataclass(frozen=True, slots=True)
class HostAllowList:
    """The `Host` values the controller answers: IP literals (what Kubernetes probes and a
    Prometheus scrape by pod IP send), `localhost`, and the names it was given.

    A page on another site reaches the controller by DNS rebinding only under its own host
    name, which it cannot make an IP literal, `localhost` or a name given here; so it gets
    421 and no tenant data. A request without `Host` is HTTP/1.0 from a script or a load
    balancer's health check (every browser sends one): answered; HTTP/1.1 requires it (400).
    """

    names: frozenset[str] = frozenset()

    @classmethod
    def of(cls, names: Iterable[str], *, source: str = _SOURCE) -> HostAllowList:
        """The allow-list of `names` (ConfigError, one line, for one that is not a host name)."""
        return cls(frozenset(allowed_name(name, source) for name in names))

    def allows(self, host: str) -> bool:
        """Whether the normalised host part of a `Host` value is answered."""
        return host == "localhost" or host in self.names or _ip_literal(host)

    def refusal(self, head: bytes) -> tuple[int, str] | None:
        """(status, text) when a request with this head must not be answered, else None."""
        lines = head.split(b"\r\n")
        version = lines[0].rsplit(b" ", 1)[-1]
        values = [
            line.partition(b":")[2].strip().decode("latin-1")
            for line in lines[1:]
            if line.partition(b":")[0].strip().lower() == b"host"
        ]
        if not values:
            if version == b"HTTP/1.0":
                return None
            return 400, "bad request: HTTP/1.1 needs a Host header\n"
        if len(values) > 1:
            return 400, "bad request: more than one Host header\n"
        host = host_of(values[0])
        if host is None:
            return 400, "bad request: the Host header is not HOST[:PORT]\n"
        if self.allows(host):
            return None
        _log_refused(host)
        return 421, MISDIRECTED


def allowed_name(text: str, source: str = _SOURCE) -> str:
    """A name for the allow-list: lower case, without a final dot; ConfigError otherwise."""
    name = text.strip().lower().removesuffix(".")
    if _NAME.fullmatch(name) or _ip_literal(name.strip("[]")):
        return name
    raise ConfigError(
        f"{source} {text.strip()[:100]!r} is not a host name; give the name the controller is "
        "reached by, e.g. cxrecon.example.com (no scheme, port, path or wildcard)"
    )


def host_of(value: str) -> str | None:
    """The host of a `Host` value (`name`, `name:port`, `1.2.3.4:80`, `[::1]:80`), lower
    case and without a final dot; None when it is not one."""
    text = value.strip()
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not _port(rest)) or not _ip_literal(inside):
            return None
        return inside.lower()
    host, colon, port = text.rpartition(":")
    if not colon:
        host = text
    elif not _port(colon + port):
        return None
    host = host.lower().removesuffix(".")
    return host if _NAME.fullmatch(host) else None


def _port(text: str) -> bool:
    digits = text.removeprefix(":")
    return text.startswith(":") and digits.isascii() and digits.isdigit() and int(digits) < 65536


def _ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


_refused: set[str] = set()


def _log_refused(host: str) -> None:
    # Once per name (a misconfigured ingress shows up in the log), never without bound.
    if host in _refused or len(_refused) >= _LOGGED_NAMES:
        return
    _refused.add(host)
    log.warning(
        "answered 421 to a request for host %r: not an IP address, localhost or a name given "
        "with --allowed-host (or CXRECON_ALLOWED_HOSTS)",
        host,
    )
