"""The bytes of one cache entry (reconciler.load.cache): a header naming its key and an HMAC
under the user's cache key, then what loading produced, as JSON; reading one never through
a link, decoding one never trusting anything its HMAC does not cover.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator, Mapping
from sys import intern
from typing import Any, Final

from reconciler.load.cache_key import CacheKey
from reconciler.load.checked import CheckedFile, build_connector
from reconciler.load.environment import OVERRIDDEN_KEY
from reconciler.model import (
    DesiredConnector,
    Diagnostic,
    FieldMapping,
    SourceLocation,
    shared_mapping,
)

#: Bumped whenever the layout of an entry changes: older entries are then never read.
FORMAT: Final = 4
MAGIC: Final = f"cxrecon-cache {FORMAT} ".encode()
#: The largest entry read back (a connector file is at most 1 MiB; its entry is smaller).
MAX_ENTRY_BYTES: Final = 8 * 1024 * 1024
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK: Final = getattr(os, "O_NONBLOCK", 0)


def entry_bytes(key: str, checked: CheckedFile, display: str, secret: CacheKey) -> bytes:
    """The entry stored under `key`: header (key, HMAC of key and body), then the body."""
    body = _encode(checked, display)
    return MAGIC + f"{key} {secret.sign(key, body)}\n".encode() + body


def read_entry(entry: str) -> tuple[bytes, float]:
    """An entry's bytes (at most one more than the largest entry) and when it was written;
    never through a link, never anything but a regular file."""
    # O_NONBLOCK: a named pipe planted at the name must not wait for a writer (S_ISREG below).
    fd = os.open(entry, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError("not a regular file")
        chunks = []
        left = MAX_ENTRY_BYTES + 1
        while left > 0 and (chunk := os.read(fd, left)):
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks), info.st_mtime
    finally:
        os.close(fd)


def written_by(secret: CacheKey, path: str, key: str) -> bool:
    """Whether `path` is an entry named `key` that `secret` signed (eviction's proof)."""
    try:
        data, _ = read_entry(path)
        header, _, body = data.partition(b"\n")
        fields = header[len(MAGIC) :].split(b" ")
        return (
            len(data) <= MAX_ENTRY_BYTES
            and data.startswith(MAGIC)
            and len(fields) == 2
            and fields[0] == key.encode()
            and secret.verifies(key, body, fields[1])
        )
    except OSError:
        return False


# --- entries -------------------------------------------------------------------------------
# JSON, not pickle: an entry is data read back, never code that could run. The body is two
# JSON documents on two lines: what loading produced, then where each value is written (a
# plan looks up the locations of the few connectors it changes, so they are decoded only
# then; kept out of the first document, the decoder does not even scan them).


def decode_entry(data: bytes, key: str, display: str, secret: CacheKey) -> CheckedFile:
    if len(data) > MAX_ENTRY_BYTES or not data.startswith(MAGIC):
        raise ValueError("not an entry of this format")
    header, _, body = data.partition(b"\n")
    fields = header[len(MAGIC) :].split(b" ")
    if len(fields) != 2 or fields[0].decode("ascii", "replace") != key:
        raise ValueError("foreign entry")
    if not secret.verifies(key, body, fields[1]):
        # Truncated, corrupted, or not written with this user's key (committed, copied,
        # forged): never trusted.
        raise ValueError("not authenticated")
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
