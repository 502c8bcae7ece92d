"""Reading a file a user names, safely: only a regular file (never a FIFO, which would wait
forever, a device such as /dev/zero, which never ends, or a folder), and never more than a
limit, checked before opening, again on what was opened, and while reading (it may be
replaced or grow meanwhile). Connector files, `${file:}` secrets and saved plans all read
through here; each caller words the refusal for its own reader."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

#: Opening never waits (a named pipe with no writer would block forever) and never follows
#: a link the checks before it did not see.
OPEN_FLAGS: Final = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


class UnreadableFile(ValueError):
    """Not read: `mode` is set when it is not a regular file, `size` when it is over the
    limit (None when it grew past it while read); the message says which."""

    def __init__(self, message: str, *, mode: int | None = None, size: int | None = None):
        super().__init__(message)
        self.mode = mode
        self.size = size


def read_regular(path: Path, limit: int) -> bytes:
    """`path`'s bytes (a link in its last part is not followed: resolve it first); OSError
    when it cannot be opened, UnreadableFile when it must not be read."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFile("it is not a regular file", mode=info.st_mode)
    if info.st_size > limit:
        raise UnreadableFile(
            f"it is {info.st_size:,} bytes, over the {limit:,}-byte limit", size=info.st_size
        )
    descriptor = os.open(path, OPEN_FLAGS)
    with os.fdopen(descriptor, "rb") as handle:
        opened = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(opened):  # replaced since the check above
            raise UnreadableFile("it is not a regular file", mode=opened)
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UnreadableFile(f"it grew past the {limit:,}-byte limit while read")
    return data
