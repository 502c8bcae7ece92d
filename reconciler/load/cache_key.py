"""The secret the on-disk cache authenticates its entries with, kept outside any repository:
`$CXRECON_CACHE_KEY_FILE`, else `$XDG_STATE_HOME/cxrecon/cache.key`, else
`~/.local/state/cxrecon/cache.key`; made on first use, readable by its owner only.

A cache entry is trusted only when its HMAC verifies under this key, so an entry committed to
a repository, copied from another machine or written by anyone without the key is a miss,
never a hit: no file in a repository can change what a plan shows. A key that cannot be made
or is not private turns the cache off (with a note saying why), never the run.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Final

from reconciler.hashing import Mac, keyed_hmac, same_digest

#: Names the key file (tests and CI point it at a place of their own).
KEY_FILE_VARIABLE: Final = "CXRECON_CACHE_KEY_FILE"
_KEY_BYTES: Final = 32
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class CacheKey:
    """The cache's secret; `sign` makes the tag an entry carries."""

    secret: bytes = field(repr=False)
    path: Path

    @cached_property
    def _keyed(self) -> Mac:
        # Keyed once; each entry copies it (half the cost of keying an HMAC per entry).
        return keyed_hmac(self.secret)

    def sign(self, name: str, body: bytes) -> str:
        """HMAC-SHA256 over an entry's name and body (an entry moved to another name, or
        another body under this one, does not verify)."""
        mac = self._keyed.copy()
        mac.update(name.encode("ascii", "replace") + b"\0")
        mac.update(body)
        return mac.hexdigest()

    def verifies(self, name: str, body: bytes, tag: bytes) -> bool:
        return same_digest(self.sign(name, body).encode(), tag)


class KeyUnavailable(Exception):
    """The key could not be read or made; the message says why and what to do."""


def key_file(environ: Mapping[str, str] | None = None) -> Path:
    """Where the key is kept (see the module docstring)."""
    env = os.environ if environ is None else environ
    given = env.get(KEY_FILE_VARIABLE, "").strip()
    if given:
        return Path(given).expanduser()
    state = env.get("XDG_STATE_HOME", "").strip()
    # The XDG spec: a relative XDG_STATE_HOME is invalid and ignored.
    if state and os.path.isabs(state):
        return Path(state) / "cxrecon" / "cache.key"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    base = home / ".local" / "state"
    return base / "cxrecon" / "cache.key"


def load_key(environ: Mapping[str, str] | None = None) -> CacheKey:
    """The key, made on first use; KeyUnavailable when it cannot be had."""
    try:
        path = key_file(environ)
    except RuntimeError as exc:  # no home folder to be found
        raise KeyUnavailable(
            f"cannot find a home folder for the cache key ({exc}); set {KEY_FILE_VARIABLE} "
            "to a file outside the repository"
        ) from None
    try:
        return CacheKey(_read(path), path)
    except FileNotFoundError:
        pass
    _create(path)
    return CacheKey(_read(path), path)


def _read(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
    except FileNotFoundError:
        raise
    except NotADirectoryError:
        raise FileNotFoundError(path) from None  # a file where a folder should be: make it
    except OSError as exc:
        raise _unavailable(path, exc, "cannot read") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyUnavailable(f"cache key {path} is not a regular file; remove it")
        if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
            raise KeyUnavailable(
                f"cache key {path} belongs to another user; remove it (a new one is made)"
            )
        if info.st_mode & 0o077:
            raise KeyUnavailable(
                f"cache key {path} can be read by others (mode {stat.S_IMODE(info.st_mode):o}); "
                f"`chmod 600 {path}`, or remove it (a new one is made)"
            )
        text = os.read(fd, 4 * _KEY_BYTES)
    finally:
        os.close(fd)
    try:
        secret = bytes.fromhex(text.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        secret = b""
    if len(secret) != _KEY_BYTES:
        raise KeyUnavailable(f"{path} is not a cxrecon cache key; remove it (a new one is made)")
    return secret


def _create(path: Path) -> None:
    """Write a new key whole, or keep the one another run made first: the key is written to
    a temporary file and linked into place (never a half-written key for a concurrent run)."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = _temporary(path)
    except OSError as exc:
        raise _unavailable(path, exc, "cannot create") from None
    try:
        os.write(fd, secrets.token_hex(_KEY_BYTES).encode() + b"\n")
        os.fsync(fd)
        os.close(fd)
        fd = -1
        # A key another run made first stays: theirs is used.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    except OSError as exc:
        raise _unavailable(path, exc, "cannot create") from None
    finally:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def _temporary(path: Path) -> tuple[int, str]:
    for _ in range(100):
        name = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
            return os.open(name, flags, 0o600), os.fspath(name)
        except FileExistsError:
            continue
    raise OSError(errno.EEXIST, "no free temporary name")


def _unavailable(path: Path, exc: OSError, doing: str) -> KeyUnavailable:
    reason = (exc.strerror or type(exc).__name__).lower()
    return KeyUnavailable(
        f"{doing} the cache key {path}: {reason}; set {KEY_FILE_VARIABLE} to a writable file "
        "outside the repository"
    )
