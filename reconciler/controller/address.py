"""Where a running controller serves its endpoints, recorded in `.cxrecon/controller.json` by
`cxrecon reconcile --listen` so that `cxrecon status` finds it without knowing the port.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from reconciler.config.settings import is_loopback_url
from reconciler.errors import CxreconError
from reconciler.safefs import ensure_dir, read_bytes, remove_regular, write_atomic

log = logging.getLogger("cxrecon.controller")

#: The record, relative to the folder the controller runs in (its working directory).
ADDRESS_FILE: Final = Path(".cxrecon") / "controller.json"
#: A record larger than this is not ours (it holds one URL, a pid and a path).
_MAX_BYTES: Final = 64 * 1024
#: Listening on every address is reached on the loopback one.
_ANY: Final = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104 - mapped


def url_of(host: str, port: int) -> str:
    """The URL a client on this machine reaches a server bound to `host`:`port` at."""
    reach = _ANY.get(host, host)
    shown = f"[{reach}]" if ":" in reach else reach
    return f"http://{shown}:{port}"


def record(folder: Path, url: str, *, repo: Path, environment: str | None) -> Path | None:
    """Write the record in `folder`/.cxrecon/ (atomically, never through a link); the
    path written, or None when it could not be (logged: the controller runs on regardless,
    `cxrecon status --url` still finds it)."""
    path = folder / ADDRESS_FILE
    body = {"url": url, "pid": os.getpid(), "repo": str(repo), "environment": environment}
    try:
        ensure_dir(folder, path.parent)
        write_atomic(path, json.dumps(body, indent=2).encode() + b"\n", mode=0o644)
    except (CxreconError, OSError) as exc:
        log.warning("could not record the controller's address in %s: %s", path, exc)
        return None
    return path


def forget(path: Path) -> None:
    """Remove the record at stop, when it is still this process's (another controller
    started since in the same folder keeps its own)."""
    try:
        body = json.loads(read_bytes(path)[:_MAX_BYTES])
        if isinstance(body, dict) and body.get("pid") == os.getpid():
            remove_regular(path)
    except (CxreconError, OSError, ValueError):
        return


def recorded(folders: Iterable[Path]) -> tuple[str, Path] | None:
    """The first controller URL recorded in one of `folders` (their `.cxrecon/`), with the
    file it was read from; None when none holds a usable record."""
    for folder in folders:
        path = folder / ADDRESS_FILE
        try:
            data = read_bytes(path)
        except (CxreconError, OSError):
            continue
        try:
            body = json.loads(data[:_MAX_BYTES]) if len(data) <= _MAX_BYTES else None
        except ValueError:
            continue
        url = body.get("url") if isinstance(body, dict) else None
        if (
            isinstance(url, str)
            and url.startswith(("http://", "https://"))
            and is_loopback_url(url)
        ):
            return url, path
        # Anything else is ignored. The repository is untrusted: a committed record must not
        # send `cxrecon status` (and what it prints) to another host. A controller on this
        # machine is reached on loopback; any other address needs --url or CXRECON_STATUS_URL.
    return None
