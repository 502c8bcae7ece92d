"""Writing a dump to disk: every file or none (an existing one needs --force; a full disk
leaves the folder as it was), and the connector files already there named (they load with
the new ones).

--out is often a folder of a repository cxrecon does not trust: a folder on the way that is
a link (below the project folder or the working directory) is refused, a link at a file's
name is replaced by the file, never written through, and temporary files get unpredictable
names made with O_EXCL (reconciler.safefs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import DumpError
from reconciler.gitops.dump import Dump
from reconciler.gitops.dump_yaml import ENV_EXAMPLE
from reconciler.safefs import UnsafePathError, ensure_dir, refuse_links, write_all_atomic


@dataclass(frozen=True)
class Written:
    """Paths written, and connector files already in the directory that this dump did not
    write (left alone, but they will be loaded with the new ones)."""

    paths: tuple[Path, ...]
    others: tuple[Path, ...]


def check_out_dir(out: Path, root: Path | None = None) -> None:
    """Fail early, before the tenant is read, when `out` cannot be a dump directory. `root`
    is the project folder: no part of `out` below it (or below the working directory) may
    be a symbolic link."""
    _refuse_links(out, root)
    if out.exists() and not out.is_dir():
        raise DumpError(f"--out {out} is a file; pass a directory (it is created if missing)")
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise DumpError(f"cannot create {out}: {probe} is not a directory; choose another --out")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise DumpError(f"cannot write to {probe}: permission denied; choose another --out")


def write_dump(dump: Dump, out: Path, *, force: bool = False, root: Path | None = None) -> Written:
    """Write every file, or none when one exists and `force` is not set (or the disk is
    full: FileWriteError, one line, nothing changed)."""
    check_out_dir(out, root)
    targets = {out / f.file_name: f.text for f in dump.files}
    if dump.references:
        targets[out / ENV_EXAMPLE] = dump.env_example()
    existing = sorted(p for p in targets if p.exists() or p.is_symlink())
    if existing and not force:
        shown = ", ".join(p.name for p in existing[:5])
        more = f" and {len(existing) - 5} more" if len(existing) > 5 else ""
        raise DumpError(
            f"{len(existing)} file(s) already exist in {out}: {shown}{more}; pass --force to "
            "overwrite them, or choose an empty --out directory"
        )
    base = _base(out, root)
    try:
        if base is not None:
            ensure_dir(base, out.absolute())
        else:
            out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DumpError(
            f"cannot create {out}: {exc.strerror or exc}; choose another --out"
        ) from None
    write_all_atomic(
        [(path, text.encode("utf-8")) for path, text in targets.items()],
        what="dump file",
    )
    others = tuple(
        sorted(
            p
            for p in out.iterdir()
            if p.suffix in (".yaml", ".yml") and not p.name.startswith(".") and p not in targets
        )
    )
    return Written(tuple(targets), others)


def _base(out: Path, root: Path | None) -> Path | None:
    """The folder below which no part of `out` may be a link: the project folder when `out`
    is in it, else the working directory when it is in that; None for a path elsewhere
    (the caller's own choice of place)."""
    target = out.absolute()
    for folder in (root, Path.cwd()):
        if folder is None:
            continue
        folder = folder.absolute()
        if target == folder or folder in target.parents:
            return folder
    return None


def _refuse_links(out: Path, root: Path | None) -> None:
    base = _base(out, root)
    if base is None:
        return
    try:
        refuse_links(base, out.absolute())
    except UnsafePathError as exc:
        link = str(exc).partition(" is a symbolic link")[0]
        raise DumpError(
            f"--out {out}: {link} is a symbolic link; a dump is never written through links "
            "in a repository: remove the link, or choose another --out"
        ) from None
