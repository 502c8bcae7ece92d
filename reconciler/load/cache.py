"""The on-disk cache of checked connector files for one-shot runs (validate, plan, drift):
`.cxrecon/cache/` next to cxrecon.yaml, one entry per file, named by what decides its result.

An entry's key is a sha256 of the file's bytes, how it is named in messages, the context it
was checked in (environments and their vars and overrides, --strict, the project folder,
where its `${file:}` references lead), the connector schema and cxrecon's own code. So a
warm run reports exactly what a cold run would, and anything that could change a result
makes a new key. What an entry holds is what loading produces, never a resolved secret:
loading never resolves `${env:}` / `${file:}`, it only checks them.

The repository is untrusted input: every entry carries an HMAC made with a key kept outside
it (reconciler.load.cache_key), so an entry committed, copied or forged is a miss, never a hit;
a `.cxrecon`, cache folder, shard or `.gitignore` that is a symbolic link is refused (one line);
nothing is opened through a link, and eviction deletes only entries whose HMAC proves this
user's cxrecon wrote them.

Safe to delete at any time. Entries are written whole (a temporary file renamed into place);
one that is truncated, corrupted, foreign or of another format is ignored and rewritten.
Past `max_bytes` the oldest entries are deleted at the end of the run. A cache that cannot be
written (a read-only checkout, a key that cannot be made) just makes every run cold; a full
disk says so in one warning line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
import tempfile
import time
from functools import cache
from importlib.resources import files as resource_files
from pathlib import Path
from typing import Final

from reconciler.hashing import sha256, sha256_hex
from reconciler.load.cache_entries import (
    FORMAT,
    decode_entry,
    entry_bytes,
    read_entry,
    written_by,
)
from reconciler.load.cache_key import CacheKey, KeyUnavailable, load_key
from reconciler.load.checked import CheckedFile, LoadContext, content_hash
from reconciler.safefs import (
    FULL_DISK_ERRNOS,
    FileWriteError,
    UnsafePathError,
    ensure_dir,
    refuse_links,
    shown,
    write_atomic,
    write_failure,
)

log = logging.getLogger(__name__)

__all__ = ["CACHE_DIR", "DEFAULT_MAX_BYTES", "FileCache", "code_fingerprint"]

#: Where the cache lives, relative to the project folder (the folder of cxrecon.yaml).
CACHE_DIR: Final = Path(".cxrecon") / "cache"
#: The default bound on the entries' total size.
DEFAULT_MAX_BYTES: Final = 256 * 1024 * 1024
#: An entry read that was written longer ago than this is touched, so eviction (oldest
#: first) spares entries still in use at the cost of one syscall per hour per entry.
_TOUCH_AFTER_SECONDS: Final = 3600.0
#: Eviction brings the cache down to this share of its bound, so it does not run every time.
_EVICT_TO: Final = 0.75
#: The modules and schema whose content decides what a file loads to.
_CODE_PACKAGES: Final = ("load", "documents")
_CODE_MODULES: Final = ("model.py", "secret.py", "config/overrides.py", "config/settings.py")
#: An entry's file name under its shard: the rest of its 64-digit key.
_ENTRY_NAME: Final = re.compile(r"[0-9a-f]{62}")
_IGNORE_TEXT: Final = b"# cxrecon's cache: safe to delete, never committed\n*\n"


@cache
def code_fingerprint() -> str:
    """This installation's `fingerprint_of`: an upgrade, or an edit of a checkout, is a new
    cache."""
    import reconciler

    schema = resource_files("reconciler.schemas").joinpath("connector.schema.json")
    return fingerprint_of(
        reconciler.__version__, schema.read_bytes(), Path(reconciler.__file__).parent
    )


def fingerprint_of(version: str, schema: bytes, package: Path) -> str:
    """cxrecon's version, the connector schema, and the size and modification time of each
    module (under `package`) that checks a file."""
    hasher = sha256(f"{version}\0".encode())
    hasher.update(schema)
    modules = [package / m for m in _CODE_MODULES]
    for sub in _CODE_PACKAGES:
        modules.extend(sorted((package / sub).glob("*.py")))
    for module in modules:
        try:
            info = module.stat()
        except OSError:
            continue
        name = module.relative_to(package).as_posix()
        hasher.update(f"{name}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
    return hasher.hexdigest()


class FileCache:
    """Checked connector files on disk, by key (see the module docstring); counts its hits
    and misses for the run summary.

    `root` is the project folder (no part of the cache below it may be a link); `key`
    authenticates entries (default: the user's key, made on first use). Raises
    UnsafePathError (one line) when a part of the cache is a symbolic link."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        root: Path | None = None,
        key: CacheKey | None = None,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        #: Entries found but not usable (truncated, corrupted, foreign, forged): rewritten.
        self.ignored = 0
        self.written = 0
        #: Why the cache is off for this run (shown once as a warning), if it is.
        self.note: str | None = None
        self._root = directory.parent if root is None else root
        self._entries = os.path.join(os.fspath(directory), f"v{FORMAT}")
        self._refuse_links()
        if key is None:
            try:
                key = load_key()
            except KeyUnavailable as exc:
                self._off(f"warning: cache off: {exc}")
        self._key_of_entries = key
        self._writable = key is not None
        self._shards: set[str] = set()

    @classmethod
    def for_project(cls, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> FileCache:
        return cls(root / CACHE_DIR, max_bytes=max_bytes, root=root)

    def _refuse_links(self) -> None:
        """No part of the cache (its folders, shards, `.gitignore`) may be a link: a link
        committed there would send entries, and eviction's deletions, out of the project."""
        try:
            refuse_links(self._root, Path(self._entries))
            refuse_links(self._root, self.directory / ".gitignore")
            with contextlib.suppress(OSError), os.scandir(self._entries) as found:
                shards = sorted(item.path for item in found if item.is_symlink())
                if shards:
                    refuse_links(self._root, Path(shards[0]))
        except UnsafePathError as exc:
            link = str(exc).partition(" is a symbolic link")[0]
            raise UnsafePathError(
                f"{shown(link)} is a symbolic link: cxrecon's cache is never written through "
                "links in a repository (one committed there could send it out of the project); "
                "remove it (git rm), or run with --no-cache"
            ) from None

    def _off(self, note: str) -> None:
        self._writable = False
        if self.note is None:
            self.note = note
            log.warning("%s", note)

    def _key(self, content: str, display: str, context: LoadContext) -> str:
        parts = (code_fingerprint(), context.fingerprint, display, content)
        return sha256_hex("\0".join(parts).encode("utf-8", "surrogatepass"))

    def get(self, raw: bytes, display: str, context: LoadContext) -> CheckedFile | None:
        """The file as checked before in the same context; None (a miss) otherwise."""
        secret = self._key_of_entries
        if secret is None:
            self.misses += 1
            return None
        content = content_hash(raw)
        key = self._key(content, display, context)
        entry = self._path(key)
        try:
            data, written = read_entry(entry)
        except OSError:
            self.misses += 1
            return None
        try:
            checked = decode_entry(data, key, display, secret)
            if checked.content != content:
                raise ValueError("content hash")
            if not context.still_reaches(checked.reach):
                # A ${file:} reference leads elsewhere now (a link changed): check again.
                self.misses += 1
                return None
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            log.debug("cache entry %s ignored: %s", entry, exc)
            self.ignored += 1
            self.misses += 1
            return None
        if time.time() - written > _TOUCH_AFTER_SECONDS:
            with contextlib.suppress(OSError):
                os.utime(entry, follow_symlinks=False)
        self.hits += 1
        return checked

    def put(self, display: str, context: LoadContext, checked: CheckedFile) -> None:
        """Store how a file checked (keyed by `checked.content`, the hash of the bytes it was
        checked from); never fails the run (a cache that cannot be written is only a slower
        next run)."""
        secret = self._key_of_entries
        if not self._writable or secret is None:
            return
        key = self._key(checked.content, display, context)
        data = entry_bytes(key, checked, display, secret)
        entry = self._path(key)
        shard = os.path.dirname(entry)
        try:
            if shard not in self._shards:
                self._prepare()
                ensure_dir(self._root, Path(shard))
                self._shards.add(shard)
            # No fsync: a torn entry fails its HMAC and is a miss. mkstemp's O_EXCL never
            # opens a link planted at its (unpredictable) name; the rename replaces a link
            # at the entry's name instead of writing through it.
            descriptor, temporary = tempfile.mkstemp(dir=shard, prefix=".tmp-")
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(data)
                os.replace(temporary, entry)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except (UnsafePathError, FileWriteError) as exc:
            # A part of the cache is a file (or became a link since the run started), or
            # the disk is full: the run goes on without the cache, saying why once.
            self._off(f"warning: cache not written: {exc}")
            return
        except OSError as exc:
            if exc.errno in FULL_DISK_ERRNOS:
                failure = write_failure(shown(str(self.directory)), exc, what="cache")
                self._off(f"warning: cache not written: {failure}")
            else:
                log.debug("cache not written (%s): every run stays cold", exc)
                self._writable = False
            return
        self.written += 1

    def close(self) -> None:
        """End of the run: over its bound, the cache loses its oldest entries."""
        if self.written:
            self.evict()

    def evict(self) -> int:
        """Delete the oldest entries until the cache is within its bound; how many went.
        Only regular files named like an entry whose HMAC verifies are deleted (and only
        they count against the bound once read): whatever else is in the folder (a
        committed file, a link) is never touched."""
        secret = self._key_of_entries
        if secret is None:
            return 0
        entries: list[tuple[float, int, str, str]] = []
        total = 0
        try:
            with os.scandir(self._entries) as found:
                shards = [s for s in found if s.is_dir(follow_symlinks=False)]
        except OSError:
            return 0
        for shard in shards:
            with contextlib.suppress(OSError), os.scandir(shard.path) as found:
                for item in found:
                    if not _ENTRY_NAME.fullmatch(item.name):
                        continue
                    with contextlib.suppress(OSError):
                        info = item.stat(follow_symlinks=False)
                        if stat.S_ISREG(info.st_mode):
                            entries.append((info.st_mtime, info.st_size, item.path, shard.name))
                            total += info.st_size
        if total <= self.max_bytes:
            return 0
        removed = 0
        goal = self.max_bytes * _EVICT_TO
        for _, size, path, shard_name in sorted(entries):
            if total <= goal:
                break
            if not written_by(secret, path, shard_name + os.path.basename(path)):
                # Not provably ours (committed, copied): left alone, and not counted against
                # the bound, so a large planted file cannot make every run evict ours.
                log.debug("cache: %s is not an entry this user wrote; left alone", path)
                total -= size
                continue
            with contextlib.suppress(OSError):
                os.unlink(path)
                total -= size
                removed += 1
        return removed

    def _path(self, key: str) -> str:
        # Strings, not Path: joining three Paths per file was a tenth of a warm load.
        return f"{self._entries}{os.sep}{key[:2]}{os.sep}{key[2:]}"

    def _prepare(self) -> None:
        """The cache folder, ignored by git whatever the project's .gitignore says."""
        ensure_dir(self._root, self.directory)
        ignore = self.directory / ".gitignore"
        try:
            ignore.lstat()
        except FileNotFoundError:
            # Written whole, never through a link (one planted meanwhile is replaced).
            write_atomic(ignore, _IGNORE_TEXT, what="the cache's .gitignore")
