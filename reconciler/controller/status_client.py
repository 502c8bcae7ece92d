"""Asking a running controller for its `/status` (`cxrecon status`): where it listens (--url,
CXRECON_STATUS_URL, or the address `reconcile --listen` recorded), and its answer, bounded."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

from reconciler.errors import ConfigError

if TYPE_CHECKING:
    import httpx

#: What `--url` looks like (the controller's default --listen address).
EXAMPLE_URL: Final = "http://127.0.0.1:9108"
#: A /status answer larger than this is not a controller's (10,000 connectors are ~3 MB).
MAX_STATUS_BYTES: Final = 64 * 1024 * 1024


class NoController(Exception):
    """Nothing usable answered at the URL; the message says what happened."""


def controller_url(url: str | None) -> tuple[str, str]:
    """--url (or CXRECON_STATUS_URL), else the address a controller recorded, with where it
    came from for messages; NoController saying where it looked when there is neither."""
    if url is not None:
        return base_url(url), ""
    # Imported here: `cxrecon status --help` reads neither the project nor the record.
    from reconciler.config.project import display_path, find_project_file
    from reconciler.controller.address import ADDRESS_FILE, recorded

    here = Path.cwd()
    found = find_project_file(here.resolve())
    folders = [here] + ([found.parent] if found is not None and found.parent != here else [])
    known = recorded(folders)
    if known is None:
        raise NoController(
            f"no controller address: none recorded in {ADDRESS_FILE} (`cxrecon reconcile "
            "--listen` writes it where it runs) and no --url or CXRECON_STATUS_URL"
        )
    address, path = known
    try:
        return base_url(address), f" (the address recorded in {display_path(path.resolve())})"
    except ConfigError:
        raise NoController(f"{display_path(path)} holds no controller address") from None


def base_url(url: str) -> str:
    """`url` as http(s)://HOST[:PORT][/prefix]: no user-info, query or trailing slash."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--url must be http://HOST:PORT, e.g. {EXAMPLE_URL}")
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    # Keep a path prefix (a controller behind an ingress) but never user-info in messages.
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def fetch_status(base: str, timeout: float) -> Mapping[str, Any]:
    """The controller's `/status` at `base`, within `timeout` and MAX_STATUS_BYTES;
    NoController when nothing, or not a cxrecon controller, answers; ConfigError when one
    answers but not to this host name (its Host allow-list)."""
    import httpx

    client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)
    try:
        with client as http, http.stream("GET", f"{base}/status") as response:
            if response.status_code == 421:
                raise ConfigError(_misdirected(base))
            if response.status_code != 200:
                raise NoController(
                    f"{base}/status answered {response.status_code}, not a controller's status"
                )
            data = b""
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > MAX_STATUS_BYTES:
                    raise NoController(f"{base}/status answered more than a status")
    except httpx.HTTPError as exc:
        raise NoController(f"no controller answers at {base} ({_why(exc)})") from None
    try:
        body = json.loads(data)
    except ValueError:
        raise NoController(f"{base}/status did not answer JSON") from None
    if not isinstance(body, dict) or "ready" not in body or "lastCycle" not in body:
        raise NoController(f"{base}/status is not a cxrecon controller's status")
    return body


def _misdirected(base: str) -> str:
    """A controller answered, but not to the host name in --url (its Host allow-list)."""
    host = urlsplit(base).hostname or base
    return (
        f"the controller at {base} does not answer to the host name '{host}' (421 Misdirected "
        f"Request); start it with --allowed-host {host} (or CXRECON_ALLOWED_HOSTS), or give "
        "--url its IP address"
    )


def _why(exc: httpx.HTTPError) -> str:
    import httpx

    if isinstance(exc, httpx.ConnectError):
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return type(exc).__name__
