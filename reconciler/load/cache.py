"""The on-disk cache of checked connector files for one-shot runs (validate, plan, drift):
`.cxrecon/cache/` next to cxrecon.yaml, one entry per file, named by what decides its result.

An entry's key is a sha256 of the file's bytes, how it is named in messages, the context it
was checked in (environments and their vars and overrides, --strict, the project folder,
where its `${file:}` references lead), the connector schema and cxrecon's own code. So a
warm run reports exactly what a cold run would, and anything that could change a result
makes a new key. What an entry holds is what loading produces, never a resolved secret:
loading never resolves `${env:}` / `${file:}`, it only checks them.

Safe to delete at any time. Entries are written whole (a temporary file renamed into place);
one that is truncated, corrupted, foreign or of another format is ignored and rewritten.
Past `max_bytes` the oldest entries are deleted at the end of the run. A cache that cannot be
written (a read-only checkout) just makes every run cold.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from functools import cache
from importlib.resources import files as resource_files
from pathlib import Path
from sys import intern
from typing import Any, Final

from reconciler.load.checked import CheckedFile, LoadContext, build_connector, content_hash
from reconciler.load.substitute import OVERRIDDEN_KEY
from reconciler.model import (
    DesiredConnector,
    Diagnostic,
    FieldMapping,
    SourceLocation,
    shared_mapping,
)

log = logging.getLogger(__name__)

#: Where the cache lives, relative to the project folder (the folder of cxrecon.yaml).
CACHE_DIR: Final = Path(".cxrecon") / "cache"
#: The default bound on the entries' total size.
DEFAULT_MAX_BYTES: Final = 256 * 1024 * 1024
#: Bumped whenever the layout of an entry changes: older entries are then never read.
FORMAT: Final = 3
_MAGIC: Final = f"cxrecon-cache {FORMAT} ".encode()
#: The largest entry read back (a connector file is at most 1 MiB; its entry is smaller).
_MAX_ENTRY_BYTES: Final = 8 * 1024 * 1024
#: An entry read that was written longer ago than this is touched, so eviction (oldest
#: first) spares entries still in use at the cost of one syscall per hour per entry.
_TOUCH_AFTER_SECONDS: Final = 3600.0
#: Eviction brings the cache down to this share of its bound, so it does not run every time.
_EVICT_TO: Final = 0.75
#: The modules and schema whose content decides what a file loads to.
_CODE_PACKAGES: Final = ("load", "documents")
_CODE_MODULES: Final = ("model.py", "secret.py", "config/overrides.py", "config/settings.py")


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
    hasher = hashlib.sha256(f"{version}\0".encode())
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
    and misses for the run summary."""

    def __init__(self, directory: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        #: Entries found but not usable (truncated, corrupted, foreign): each is rewritten.
        self.ignored = 0
        self.written = 0
        self._writable = True
        self._entries = os.path.join(os.fspath(directory), f"v{FORMAT}")

    @classmethod
    def for_project(cls, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> FileCache:
        return cls(root / CACHE_DIR, max_bytes=max_bytes)

    def _key(self, content: str, display: str, context: LoadContext) -> str:
        parts = (code_fingerprint(), context.fingerprint, display, content)
        return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()

    def get(self, raw: bytes, display: str, context: LoadContext) -> CheckedFile | None:
        """The file as checked before in the same context; None (a miss) otherwise."""
        content = content_hash(raw)
        key = self._key(content, display, context)
        entry = self._path(key)
        try:
            with open(entry, "rb") as handle:
                data = handle.read(_MAX_ENTRY_BYTES + 1)
                written = os.fstat(handle.fileno()).st_mtime
        except OSError:
            self.misses += 1
            return None
        try:
            checked = _decode_entry(data, key, display)
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
                os.utime(entry)
        self.hits += 1
        return checked

    def put(self, display: str, context: LoadContext, checked: CheckedFile) -> None:
        """Store how a file checked (keyed by `checked.content`, the hash of the bytes it was
        checked from); never fails the run (a cache that cannot be written is only a slower
        next run)."""
        if not self._writable:
            return
        key = self._key(checked.content, display, context)
        body = _encode(checked, display)
        data = _MAGIC + f"{key} {hashlib.sha256(body).hexdigest()}\n".encode() + body
        entry = self._path(key)
        shard = os.path.dirname(entry)
        try:
            if not os.path.isdir(shard):
                self._prepare()
                os.makedirs(shard, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=shard, prefix=".tmp-")
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(data)
                os.replace(temporary, entry)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as exc:
            log.debug("cache not written (%s): every run stays cold", exc)
            self._writable = False
            return
        self.written += 1

    def close(self) -> None:
        """End of the run: over its bound, the cache loses its oldest entries."""
        if self.written:
            self.evict()

    def evict(self) -> int:
        """Delete the oldest entries until the cache is within its bound; how many went."""
        entries: list[tuple[float, int, str]] = []
        total = 0
        try:
            shards = [s.path for s in os.scandir(self._entries) if s.is_dir(follow_symlinks=False)]
        except OSError:
            return 0
        for shard in shards:
            with contextlib.suppress(OSError), os.scandir(shard) as found:
                for item in found:
                    with contextlib.suppress(OSError):
                        info = item.stat(follow_symlinks=False)
                        entries.append((info.st_mtime, info.st_size, item.path))
                        total += info.st_size
        if total <= self.max_bytes:
            return 0
        removed = 0
        goal = self.max_bytes * _EVICT_TO
        for _, size, path in sorted(entries):
            if total <= goal:
                break
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
        self.directory.mkdir(parents=True, exist_ok=True)
        ignore = self.directory / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# cxrecon's cache: safe to delete, never committed\n*\n")


# --- entries -------------------------------------------------------------------------------
# JSON, not pickle: an entry is data read back, never code that could run. The body is two
# JSON documents on two lines: what loading produced, then where each value is written (a
# plan looks up the locations of the few connectors it changes, so they are decoded only
# then; kept out of the first document, the decoder does not even scan them).


def _decode_entry(data: bytes, key: str, display: str) -> CheckedFile:
    if len(data) > _MAX_ENTRY_BYTES or not data.startswith(_MAGIC):
        raise ValueError("not an entry of this format")
    header, _, body = data.partition(b"\n")
    fields = header[len(_MAGIC) :].split(b" ")
    if len(fields) != 2 or fields[0].decode("ascii", "replace") != key:
        raise ValueError("foreign entry")
    if hashlib.sha256(body).hexdigest() != fields[1].decode("ascii", "replace"):
        raise ValueError("truncated or corrupted")
    checked, _, locations = body.partition(b"\n")
    return _decode(json.loads(checked), locations, display)


def _encode(checked: CheckedFile, display: str) -> bytes:
    out: dict[str, Any] = {
        "content": checked.content,
        "diagnostics": [
            [d.severity, d.message, _loc(d.location, display), d.rule] for d in checked.diagnostics
        ],
        "name": checked.name,
        "nameAt": _loc(checked.name_location, display),
        "connector": None,
        # Where its ${file:} references led (checked again on every hit).
        "reach": checked.reach,
    }
    locations: list[Any] = []
    connector = checked.connector
    if connector is not None:
        spec = connector.spec.to_api()
        del spec["mappings"]
        out["connector"] = {
            "spec": spec,
            # Ready to build: [cxoneField, crmField, direction, transformation or null].
            "mappings": [
                [m.cxone_field, m.crm_field, m.direction, m.transformation]
                for m in connector.spec.mappings
            ],
            "management": connector.management,
            "previousNames": list(connector.previous_names),
            "overridden": [list(p) for p in connector.overridden],
            "source": _loc(connector.source, display),
        }
        locations = [
            [list(path), *(_loc(where, display) or ())]
            for path, where in connector.locations.items()
        ]
    return b"%s\n%s" % (_dumps(out), _dumps(locations))


def _dumps(value: Any) -> bytes:
    # ensure_ascii (the default) keeps every line break inside a value escaped: the body's
    # one raw newline is the separator.
    return json.dumps(value, separators=(",", ":")).encode()


def _loc(where: SourceLocation | None, display: str) -> list[Any] | None:
    """[line, col] in the file itself (nearly every location), else [path, line, col]."""
    if where is None:
        return None
    if where.path == display:
        return [where.line, where.col]
    return [where.path, where.line, where.col]


def _decode(data: Any, locations: bytes, display: str) -> CheckedFile:
    content = _str(data["content"])
    diagnostics = []
    for severity, message, where, rule in data["diagnostics"]:
        if severity not in ("error", "warning"):
            raise ValueError("severity")
        diagnostics.append(
            Diagnostic(severity, _str(message), _location(where, display), _str(rule))
        )
    name = data["name"]
    return CheckedFile(
        content,
        tuple(diagnostics),
        None if name is None else _str(name),
        _location(data["nameAt"], display),
        None if data["connector"] is None else _connector(data["connector"], locations, display),
        _str(data["reach"]),
    )


def _connector(data: Any, locations: bytes, display: str) -> DesiredConnector:
    spec = data["spec"]
    if not isinstance(spec, dict):
        raise TypeError("spec")
    source = _location(data["source"], display)
    if source is None:
        raise ValueError("source")
    built = build_connector(
        {
            **spec,
            "management": _str(data["management"]),
            "previousNames": [_str(n) for n in data["previousNames"]],
            OVERRIDDEN_KEY: [[_str(p) for p in path] for path in data["overridden"]],
        },
        source,
        _Locations(locations, display),
        tuple(_mapping(*m) for m in data["mappings"]),
    )
    if built is None:
        raise ValueError("connector")
    return built


def _mapping(cxone: Any, crm: Any, direction: Any, transformation: Any) -> FieldMapping:
    # shared_mapping interns each value, and intern() refuses anything but a string
    # (TypeError: the entry is ignored).
    return shared_mapping(cxone, crm, direction, transformation)


class _Locations(Mapping[tuple[str | int, ...], SourceLocation]):
    """Where each value of a cached connector is written, built on first use: a plan looks
    up the locations of the few connectors it changes, and building all of them took most
    of a warm load (a hundred per connector)."""

    __slots__ = ("_built", "_display", "_encoded")

    def __init__(self, encoded: bytes, display: str) -> None:
        self._encoded: bytes | None = encoded
        self._display = display
        self._built: dict[tuple[str | int, ...], SourceLocation] | None = None

    def _locations(self) -> dict[tuple[str | int, ...], SourceLocation]:
        if self._built is None:
            built: dict[tuple[str | int, ...], SourceLocation] = {}
            for path, *where in json.loads(self._encoded or b"[]"):
                found = _location(where, self._display)
                if found is not None:
                    built[tuple(intern(p) if isinstance(p, str) else p for p in path)] = found
            self._built, self._encoded = built, None
        return self._built

    def __getitem__(self, key: tuple[str | int, ...]) -> SourceLocation:
        return self._locations()[key]

    def __iter__(self) -> Iterator[tuple[str | int, ...]]:
        return iter(self._locations())

    def __len__(self) -> int:
        return len(self._locations())

    def __repr__(self) -> str:
        return repr(self._locations())


def _location(where: Any, display: str) -> SourceLocation | None:
    if where is None:
        return None
    if len(where) == 2:
        line, col = where
        path = display
    else:
        path, line, col = where
    if not (isinstance(line, int) and isinstance(col, int)):
        raise TypeError("line:col")
    return SourceLocation(_str(path), line, col)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value
