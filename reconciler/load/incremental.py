"""The controller's desired state, kept from one cycle to the next: after a pull only the
connector files that changed are read and checked again; an unchanged commit checks none.

A kept file is checked again when git says it changed between the commit it was loaded at
and now, when the file itself is not as it was (its lstat: size, times, inode; a hand edit
of the checkout, an untracked file), when a `${file:}` reference of it leads elsewhere now,
or when anything else that decides its result changed: cxrecon.yaml (any byte of it), the
environment, --strict, cxrecon's own code or schema. Files gone from the folder are dropped,
new ones checked. The result is always the one loading every file would give.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from reconciler.config.project import EnvironmentConfig, Project
from reconciler.hashing import sha256
from reconciler.load.cache import code_fingerprint
from reconciler.load.checked import CheckedFile, LoadContext
from reconciler.load.desired import LoadResult, read_desired

#: os.lstat fields that change whenever a file's content or identity does (ctime cannot be
#: set back by a program, unlike mtime).
_Signature = tuple[int, int, int, int, int]


@dataclass(frozen=True, slots=True)
class _Kept:
    checked: CheckedFile
    display: str
    context: str
    signature: _Signature


class KeptFiles:
    """Checked connector files kept between cycles (a `load.desired.FileMemo`)."""

    def __init__(self) -> None:
        #: By real path: what the last load ended with.
        self._kept: dict[str, _Kept] = {}
        #: What this load keeps so far (replaces `_kept` once it completes).
        self._next: dict[str, _Kept] = {}
        self._changed: frozenset[str] = frozenset()
        self._key: str | None = None
        self._folders: dict[Path, str] = {}
        #: Each file's lstat as `recall` took it, before the file was read (by real path).
        self._seen: dict[str, _Signature] = {}
        #: The commit the kept files were loaded at (None: not from git, or nothing kept).
        self.commit: str | None = None

    def load(
        self,
        project: Project,
        environment: EnvironmentConfig | None,
        *,
        strict: bool = False,
        commit: str | None = None,
        changed: Iterable[str] | None = None,
    ) -> LoadResult:
        """`read_desired` of the project's connectors, reusing what is kept. `changed`: the
        real paths of the files git says changed since `self.commit` (None when unknown:
        nothing kept is trusted); `commit` is what the files are at now."""
        key = _project_key(project)
        if changed is None or key != self._key:
            self._kept = {}
        self._key = key
        self._changed = frozenset(changed or ())
        self._next, self._folders, self._seen = {}, {}, {}
        result = read_desired(
            project.connectors_path, environment, strict=strict, project=project, memo=self
        )
        # Only a load that completed replaces what is kept: files deleted or renamed since
        # drop out here, as they were not seen.
        self._kept, self._next, self._seen = self._next, {}, {}
        self.commit = commit
        return result

    def forget(self) -> None:
        self._kept, self._key, self.commit = {}, None, None

    def recall(self, file: Path, display: str, context: LoadContext) -> CheckedFile | None:
        real = self._real(file)
        try:
            info = os.lstat(file)
        except OSError:
            self._seen.pop(real, None)
            return None
        signature = (info.st_mode, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)
        # Taken before the file is read: an edit while it is read shows next time.
        self._seen[real] = signature
        kept = self._kept.get(real)
        if (
            kept is None
            or real in self._changed
            or stat.S_ISLNK(info.st_mode)  # its target may have changed: read it again
            or kept.signature != signature
            or kept.display != display
            or kept.context != context.fingerprint
            or not context.still_reaches(kept.checked.reach)
        ):
            return None
        self._next[real] = kept
        return kept.checked

    def keep(self, file: Path, display: str, context: LoadContext, checked: CheckedFile) -> None:
        real = self._real(file)
        signature = self._seen.get(real)
        if signature is None:
            return  # not stat'ed before reading: check it again next time
        self._next[real] = _Kept(checked, display, context.fingerprint, signature)

    def _real(self, file: Path) -> str:
        folder = self._folders.get(file.parent)
        if folder is None:
            folder = self._folders[file.parent] = os.path.realpath(file.parent)
        return os.path.join(folder, file.name)


def real_paths(top: Path, names: Iterable[str]) -> frozenset[str]:
    """Paths git names (relative to the top of the working tree) as `KeptFiles` keys them:
    folders with their links resolved."""
    out = set()
    for name in names:
        path = os.path.join(top, name)
        out.add(os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path)))
    return frozenset(out)


def _project_key(project: Project) -> str:
    """What decides every file's result besides the context: cxrecon's code and schema,
    cxrecon.yaml's bytes and where the connectors are."""
    hasher = sha256(code_fingerprint().encode())
    if project.file is not None:
        try:
            hasher.update(project.file.read_bytes())
        except OSError:
            hasher.update(b"\0unreadable")
    hasher.update(f"\0{os.path.abspath(project.connectors_path)}".encode())
    return hasher.hexdigest()
