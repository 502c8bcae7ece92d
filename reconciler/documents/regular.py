"""Reading a file a user names, safely: only a regular file (never a FIFO, which would wait
forever, a device such as /dev/zero, which never ends, or a folder), and never more than a
limit, checked before reading and again while reading (it may grow meanwhile)."""

from __future__ import annotations

import stat
from pathlib import Path


class UnreadableFile(ValueError):
    """The file is not a regular file, or is larger than allowed; the message says which."""


def read_regular(path: Path, limit: int) -> bytes:
    """`path`'s bytes; OSError when it cannot be opened, UnreadableFile when it must not be."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFile("it is not a regular file")
    if info.st_size > limit:
        raise UnreadableFile(f"it is {info.st_size:,} bytes, over the {limit:,}-byte limit")
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UnreadableFile(f"it grew past the {limit:,}-byte limit while read")
    return data
