"""What keeps web pages away from the unauthenticated `/_emulator` admin writes.

A page in a browser can reach a loopback port two ways: a cross-site request (a form or a
no-cors `fetch`, which can only POST with a form or `text/plain` body and always sends its
`Origin`) and DNS rebinding (its own host name re-pointed at 127.0.0.1, so the request is
same-origin but carries that name in `Host`). So an admin request that changes state
(any method but GET, HEAD, OPTIONS) must have

* a `Host` that is a loopback name or address (`localhost`, 127.0.0.0/8, `[::1]`), the
  address the connection arrived on, or one of `EmulatorConfig.admin_hosts` — else 403
  `forbidden_host`;
* no `Origin`, or one whose host and port are the `Host`'s — else 403 `forbidden_origin`;
* a JSON `Content-Type` (POST, PATCH, PUT: always, even for `{}`; DELETE: if it names one) —
  else 415. DELETE and PATCH are not methods a page can send cross-site without a CORS
  preflight, which the emulator never grants.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from typing import Final
from urllib.parse import urlsplit

from starlette.types import Scope

from reconciler.emulator.problem import ApiProblem
from reconciler.emulator.request_checks import JSON_TYPES, check_content_type

ADMIN_PREFIX: Final = "/_emulator/"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
BODY_METHODS: Final = frozenset({"POST", "PATCH", "PUT"})
DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def split_authority(authority: str, default_port: int | None) -> tuple[str, int | None] | None:
    """`host[:port]` or `[v6]:port` → (normalised host, port); None when malformed."""
    authority = authority.strip()
    if authority.startswith("["):
        host, sep, rest = authority[1:].partition("]")
        if not sep:
            return None
        port_text = rest[1:] if rest.startswith(":") else rest
        if rest and not rest.startswith(":"):
            return None
    else:
        host, sep, port_text = authority.rpartition(":")
        if not sep:
            host, port_text = authority, ""
    if port_text and not port_text.isdigit():
        return None
    host = host.lower().rstrip(".")
    if not host:
        return None
    return host, int(port_text) if port_text else default_port


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def host_allowed(host: str, scope: Scope, admin_hosts: Collection[str]) -> bool:
    if host == "localhost" or host in {h.lower().rstrip(".") for h in admin_hosts}:
        return True
    try:
        if ipaddress.ip_address(host).is_loopback:
            return True
    except ValueError:
        pass
    server = scope.get("server")
    return server is not None and _same_address(host, str(server[0]))


def admin_write_problem(
    scope: Scope, admin_hosts: Collection[str], routed: bool = True
) -> ApiProblem | None:
    """Why this admin request must be refused, or None when it may go on.

    `routed` says the route has this method; if not, the Content-Type is not checked, so
    routing answers 405 with Allow (Host and Origin are checked all the same).
    """
    method: str = scope["method"]
    if method in SAFE_METHODS:
        return None
    scheme: str = scope.get("scheme", "http")
    raw_host = header(scope, b"host")
    authority = split_authority(raw_host, DEFAULT_PORTS.get(scheme)) if raw_host else None
    if authority is None or not host_allowed(authority[0], scope, admin_hosts):
        shown = repr(raw_host) if raw_host else "missing"
        return ApiProblem(
            403,
            "forbidden_host",
            f"admin writes need a Host header naming this emulator (localhost, a loopback "
            f"address or its bind host), not {shown}; a web page cannot change its state",
        )
    origin = header(scope, b"origin")
    if origin is not None and not _origin_matches(origin, authority):
        return ApiProblem(
            403,
            "forbidden_origin",
            f"Origin {origin!r} is not this emulator ({raw_host}); admin writes are not "
            "accepted from web pages",
        )
    content_type = header(scope, b"content-type")
    if routed and (method in BODY_METHODS or content_type is not None):
        try:
            check_content_type(content_type, JSON_TYPES)
        except ApiProblem as problem:
            return problem
    return None


def _origin_matches(origin: str, authority: tuple[str, int | None]) -> bool:
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return False  # "null", a file: page, garbage
    effective = port if port is not None else DEFAULT_PORTS[parts.scheme]
    return (parts.hostname.lower().rstrip("."), effective) == authority
