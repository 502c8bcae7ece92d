"""Writing files in a repository cxrecon does not trust: no symlink is followed, temporary
files get unpredictable names made with O_EXCL, and a full disk is one line, not a traceback.

The repository's files are input like any other: a committed `.cxrecon` that links outside
the project, a link planted at a temporary file's name or at the audit log's must never make
cxrecon write, append to or delete a file it did not create. Every file cxrecon writes inside
a project goes through here (cache, audit log, write-back, dump, plan files, .gitignore).
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Final

from reconciler.errors import CxreconError

_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK: Final = getattr(os, "O_NONBLOCK", 0)
_FULL: Final = {
    errno.ENOSPC: "no space left on the device",
    errno.EFBIG: "the file is over its size limit",
    errno.EDQUOT: "the disk quota is used up",
}
#: The errors that mean "the disk (or the process's file-size limit) is full".
FULL_DISK_ERRNOS: Final = frozenset(_FULL)


class UnsafePathError(CxreconError):
    """A path cxrecon would write through is a symbolic link (or not a regular file)."""


class FileWriteError(CxreconError):
    """A file could not be written: full disk, size limit, permission; nothing half-written."""


def write_failure(path: Path | str, exc: OSError, *, what: str = "file") -> FileWriteError:
    """One line for an OSError while writing `path`: what, where, what to do."""
    reason = _FULL.get(exc.errno or 0) or (exc.strerror or type(exc).__name__).lower()
    action = (
        "free space (or raise the limit) and run again"
        if exc.errno in _FULL
        else "check the folder's permissions and run again"
    )
    return FileWriteError(f"cannot write {what} {path}: {reason}; {action}")


def shown(path: Path | str) -> str:
    """`path` as a message names it: relative to the working directory when inside it."""
    try:
        return Path(path).absolute().relative_to(Path.cwd()).as_posix()
    except (ValueError, OSError):
        return os.fspath(path)


def refuse_links(root: Path, path: Path) -> None:
    """Raise UnsafePathError when `path` or any folder between `root` (excluded: a project
    may itself live behind a link) and it is a symbolic link. Missing parts are fine."""
    try:
        relative = path.relative_to(root)
    except ValueError:
        relative = None
    if relative is None:
        parts = [path]
    else:
        parts = [root.joinpath(*relative.parts[: i + 1]) for i in range(len(relative.parts))]
    for part in parts:
        try:
            mode = part.lstat().st_mode
        except FileNotFoundError:
            return
        except OSError:
            continue
        if stat.S_ISLNK(mode):
            raise UnsafePathError(
                f"{shown(part)} is a symbolic link; cxrecon never writes through links in a "
                "repository: remove it (git rm) and run again"
            )


def ensure_dir(root: Path, path: Path, *, mode: int = 0o755) -> Path:
    """Create `path` (and its parents below `root`) as real folders; refuse any link."""
    refuse_links(root, path)
    try:
        relative = path.relative_to(root)
        parts = [root.joinpath(*relative.parts[: i + 1]) for i in range(len(relative.parts))]
    except ValueError:
        parts = [path]
    for part in parts:
        try:
            os.mkdir(part, mode)
        except FileExistsError:
            pass
        except OSError as exc:
            raise write_failure(part, exc, what="folder") from None
        if stat.S_ISLNK(part.lstat().st_mode) or not part.is_dir():
            raise UnsafePathError(
                f"{shown(part)} is not a folder cxrecon can write in (a link or a file); "
                "remove it and run again"
            )
    return path


def open_append(path: Path, *, mode: int = 0o600) -> int:
    """A descriptor for appending to `path` (created if missing), never through a link."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _CLOEXEC
    try:
        fd = os.open(path, flags, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePathError(
                f"{shown(path)} is a symbolic link; cxrecon never appends through links in a "
                "repository: remove it (git rm) and run again"
            ) from None
        raise write_failure(path, exc) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePathError(f"{shown(path)} is not a regular file; remove it and run again")
    return fd


def append_whole(path: Path, data: bytes, *, what: str = "file") -> None:
    """Append `data` to a file a CI runner hands over (GITHUB_STEP_SUMMARY, GITHUB_OUTPUT:
    outside the project, so links are the runner's business). All of it or nothing: a full
    disk cuts the file back to where it was and is one FileWriteError line."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _CLOEXEC, 0o644)
    except OSError as exc:
        raise write_failure(path, exc, what=what) from None
    try:
        start = os.fstat(fd).st_size
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view) :]
        except OSError as exc:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                with suppress(OSError):
                    os.ftruncate(fd, start)  # a half summary would read as a whole one
            raise write_failure(path, exc, what=what) from None
    finally:
        os.close(fd)


def read_bytes(path: Path) -> bytes:
    """The bytes of a regular file, never through a final link (FileNotFoundError if none)."""
    # O_NONBLOCK: a named pipe at the name must not wait for a writer (refused just below).
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePathError(f"{shown(path)} is not a regular file; remove it and run again")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _temporary_beside(path: Path, mode: int) -> tuple[int, str]:
    """A new file beside `path` with an unpredictable name, made with O_EXCL (so never a
    link planted at that name); its descriptor and name."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        with suppress(OSError):
            os.unlink(temporary)
        raise
    return fd, temporary


def _write_temporary(path: Path, data: bytes, mode: int) -> str:
    """`data` in a flushed temporary file beside `path`; its name (nothing left on failure)."""
    fd, temporary = _temporary_beside(path, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise
    return temporary


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644, what: str = "file") -> None:
    """Replace `path` with `data` whole or not at all: a temporary file with an unpredictable
    name made with O_EXCL in the same folder, flushed, then renamed over `path`. A link at
    `path` is replaced by the file, never followed; a full disk leaves `path` as it was."""
    write_all_atomic([(path, data)], mode=mode, what=what)


def write_all_atomic(
    files: Sequence[tuple[Path, bytes]],
    *,
    mode: int | Sequence[int] = 0o644,
    what: str = "file",
) -> None:
    """Write every file or none: each to a temporary file beside it (as `write_atomic`), and
    only once all are written whole are they renamed into place. A full disk (or any other
    failure while writing) leaves every target as it was and no temporary file behind; only
    a rename failing midway (no space is needed for one) could leave the earlier ones
    renamed. `mode` is one mode for all, or one per file."""
    modes = [mode] * len(files) if isinstance(mode, int) else list(mode)
    staged: list[tuple[str, Path]] = []
    current = files[0][0] if files else Path()
    try:
        for (path, data), file_mode in zip(files, modes, strict=True):
            current = path
            staged.append((_write_temporary(path, data, file_mode), path))
        for temporary, path in staged:
            current = path
            os.replace(temporary, path)
    except BaseException as exc:
        for temporary, _ in staged:
            with suppress(OSError):
                os.unlink(temporary)
        if isinstance(exc, OSError) and not isinstance(exc, CxreconError):
            raise write_failure(current, exc, what=what) from None
        raise


def remove_regular(path: Path) -> bool:
    """Delete `path` only when it is a regular file (never a link's target, never a folder)."""
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return False
        path.unlink()
    except OSError:
        return False
    return True
