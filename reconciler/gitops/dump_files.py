"""Writing a dump to disk: every file or none (an existing one needs --force), each one
atomically, and the connector files already there named (they load with the new ones)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import DumpError
from reconciler.gitops.dump import Dump
from reconciler.gitops.dump_yaml import ENV_EXAMPLE


@dataclass(frozen=True)
class Written:
    """Paths written, and connector files already in the directory that this dump did not
    write (left alone, but they will be loaded with the new ones)."""

    paths: tuple[Path, ...]
    others: tuple[Path, ...]


def check_out_dir(out: Path) -> None:
    """Fail early, before the tenant is read, when `out` cannot be a dump directory."""
    if out.exists() and not out.is_dir():
        raise DumpError(f"--out {out} is a file; pass a directory (it is created if missing)")
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise DumpError(f"cannot create {out}: {probe} is not a directory; choose another --out")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise DumpError(f"cannot write to {probe}: permission denied; choose another --out")


def write_dump(dump: Dump, out: Path, *, force: bool = False) -> Written:
    """Write every file, or none when one exists and `force` is not set."""
    check_out_dir(out)
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
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DumpError(
            f"cannot create {out}: {exc.strerror or exc}; choose another --out"
        ) from None
    for path, text in targets.items():
        _write_atomically(path, text)
    others = tuple(
        sorted(
            p
            for p in out.iterdir()
            if p.suffix in (".yaml", ".yml") and not p.name.startswith(".") and p not in targets
        )
    )
    return Written(tuple(targets), others)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8", newline="\n")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise DumpError(
            f"cannot write {path}: {exc.strerror or exc}; check its permissions or choose "
            "another --out"
        ) from None
