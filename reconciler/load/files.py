"""Finding and reading connector files safely: only regular files inside the project,
never opened when they are pipes, sockets or devices, never followed out of the project
through a link; sizes bounded before anything is parsed."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

from reconciler.documents.regular import UnreadableFile, read_regular
from reconciler.documents.yamlload import MAX_FILE_BYTES
from reconciler.model import Diagnostic, SourceLocation

SUFFIXES: Final = (".yaml", ".yml")
#: The rule of a connector file (or folder) that is, or links to, a place out of the project.
OUTSIDE_PROJECT: Final = "file-outside-project"
#: The rule of a connector path that is a pipe, socket, device or folder.
NOT_A_REGULAR_FILE: Final = "not-a-regular-file"


def display_path(path: Path) -> str:
    """How a file is named in messages: relative to the working directory when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


class DisplayPaths:
    """`display_path` for many files: the working directory and each folder resolved once
    (resolving every file walks every component of its path: 0.3 s for 10,000 files)."""

    def __init__(self) -> None:
        self._cwd = Path.cwd().resolve()
        #: Per folder as written: how its files are named ("" for the working directory
        #: itself), or None when it is outside the working directory.
        self._folders: dict[Path, str | None] = {}

    def __call__(self, path: Path) -> str:
        # A link is named as itself (where it is in the repository), not by its target.
        parent = path.parent
        try:
            prefix = self._folders[parent]
        except KeyError:
            prefix = self._folders[parent] = self._prefix(parent)
        if prefix is None:
            return path.as_posix()
        return prefix + path.name

    def _prefix(self, folder: Path) -> str | None:
        try:
            relative = folder.resolve().relative_to(self._cwd).as_posix()
        except ValueError:
            return None
        return "" if relative == "." else relative + "/"


def confinement(path: Path, root: Path, from_project: bool) -> tuple[Path | None, str | None]:
    """The folder every connector file must really be in (links resolved), and why `path`
    itself may not be read, if so.

    A path inside the project folder (as written) must stay inside it once its links are
    resolved, and so must every file under it: a linked file cannot bring /etc/passwd or a
    runner's credentials into the desired state. `connectors:` in cxrecon.yaml must name a
    folder inside the project. A path given outside the project (on the command line) is
    the caller's choice: files under it stay inside it.
    """
    if _inside(Path(os.path.abspath(path)), Path(os.path.abspath(root))):
        base = os.path.realpath(root)
        if not _inside(Path(os.path.realpath(path)), Path(base)):
            return None, (
                f"{display_path(path)} is a symbolic link out of the project folder (the "
                "folder of cxrecon.yaml); connector files are read only from inside it"
            )
        return Path(base), None
    if from_project:
        return None, (
            f"connectors folder {display_path(path)} is outside the project folder (the "
            "folder of cxrecon.yaml); `connectors:` must name a folder inside it"
        )
    return (Path(os.path.realpath(path)) if path.is_dir() else None), None


def _inside(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or under it (both absolute; no links resolved here)."""
    try:
        return os.path.commonpath([folder, path]) == str(folder)
    except ValueError:  # different drives
        return False


def discover(path: Path, configured: SourceLocation | None) -> tuple[list[Path], list[Diagnostic]]:
    """The connector files under `path`; `configured` is where cxrecon.yaml names it."""
    if path.is_file():
        return [path], []
    if not path.is_dir():
        if path.exists() or path.is_symlink():
            # A named pipe, socket or device, or a link to one: `read` says what it is.
            return [path], []
        if configured is not None:
            message = (
                f"connectors directory {display_path(path)} does not exist; create it, or "
                "fix `connectors:` here (relative to cxrecon.yaml)"
            )
            return [], [Diagnostic("error", message, configured, "input")]
        message = f"{display_path(path)} does not exist; pass a connectors directory or file"
        return [], [Diagnostic("error", message, None, "input")]
    found: list[Path] = []
    diagnostics: list[Diagnostic] = []
    # os.walk without following links: no cycles, and hidden directories (.git) are skipped.
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in dirnames:
            if name.endswith(SUFFIXES):
                folder = Path(dirpath) / name
                message = (
                    "is a folder, not a connector file; its files are read like any other "
                    "folder's (rename it so it does not look like a file)"
                )
                where = SourceLocation(display_path(folder), 1, 1)
                diagnostics.append(Diagnostic("warning", message, where, NOT_A_REGULAR_FILE))
        for name in filenames:
            # Names only: pipes, sockets and devices are listed too, and refused by `read`.
            if name.endswith(SUFFIXES) and not name.startswith("."):
                found.append(Path(dirpath) / name)
    found.sort(key=lambda p: relative_name(p, path))
    if not found:
        message = f"no connector files (*.yaml, *.yml) under {display_path(path)}"
        return [], [*diagnostics, Diagnostic("warning", message, None, "input")]
    return found, diagnostics


def relative_name(file: Path, folder: Path) -> str:
    """`file.relative_to(folder).as_posix()` for a file found under `folder` (a string
    slice: Path.relative_to was a tenth of a warm load)."""
    text, top = os.fspath(file), os.fspath(folder)
    if text.startswith(top) and text[len(top) : len(top) + 1] == os.sep:
        rest = text[len(top) + 1 :]
        return rest if os.sep == "/" else rest.replace(os.sep, "/")
    return file.relative_to(folder).as_posix()


def read(file: Path, display: str, confine: Path | None) -> bytes | Diagnostic:
    """The bytes of one connector file; a Diagnostic for anything that is not a regular
    file of sensible size (checked before opening, and again on what was opened), or that
    links out of `confine`."""
    where = SourceLocation(display, 1, 1)
    try:
        info = os.lstat(file)
        target = file
        if stat.S_ISLNK(info.st_mode):
            target = Path(os.path.realpath(file))
            if confine is not None and not _inside(target, confine):
                message = (
                    "is a symbolic link to a file outside the project folder (the folder of "
                    "cxrecon.yaml): not read; keep connector files inside the project"
                )
                return Diagnostic("error", message, where, OUTSIDE_PROJECT)
        return read_regular(target, MAX_FILE_BYTES)
    except UnreadableFile as exc:
        if exc.mode is not None:
            return _not_regular(exc.mode, where)
        return _too_large(exc.size if exc.size is not None else MAX_FILE_BYTES + 1, where)
    except OSError as exc:
        return Diagnostic("error", f"cannot read file: {exc.strerror or exc}", where, "input")


def _not_regular(mode: int, where: SourceLocation) -> Diagnostic:
    if stat.S_ISFIFO(mode):
        kind = "a named pipe (FIFO)"
    elif stat.S_ISSOCK(mode):
        kind = "a socket"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "a device"
    elif stat.S_ISDIR(mode):
        kind = "a folder"
    else:
        kind = "a special file"
    message = (
        f"is {kind}, not a regular file: skipped without reading it; connector files are "
        "plain files (remove it, or rename it so it does not end in .yaml/.yml)"
    )
    return Diagnostic("error", message, where, NOT_A_REGULAR_FILE)


def _too_large(size: int, where: SourceLocation) -> Diagnostic:
    message = f"file is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit"
    return Diagnostic("error", message, where, "yaml-size")
