"""The desired-state checkout the controller follows: fetch the branch's upstream each cycle and
check out what it points to now, as Flux and Argo CD do, without ever losing someone's edits.

- a fast-forward is taken as it is;
- a rewritten branch (force-pushed, rewound) is followed too, and reported as a rewrite
  (old → new commit): the old history is gone from the branch, so keeping it would leave the
  controller applying a commit nobody can see any more, and stuck there for good;
- a checkout that is the controller's own (inside its state directory, $STATE_DIRECTORY, where
  the systemd unit clones it) is a mirror nobody edits: local modifications of tracked files
  and local commits in it are discarded (`git reset --hard`) and named in the result;
- any other checkout (someone's clone: `--repo .`) is never reset over work: uncommitted
  changes (modified or staged files, untracked files under the connectors folder) or local
  commits refuse the cycle with one line saying how to run on a clean clone;
- `--dry-run` changes no file and no ref of a checkout that is not the controller's own: it
  fetches into FETCH_HEAD only, plans the working tree as it is and reports where the branch
  is (its own checkout still follows the branch when that discards nothing).

Untracked files are never deleted (the audit log or a cache may live there). A failed fetch
(network, authentication, a missing remote, no upstream, a detached HEAD) changes nothing: it
is reported, and the working tree stays at the last good commit, which the cycle keeps using
(reconciler.controller.loop counts failures in a row for /readyz).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from reconciler.config.project import PROJECT_FILE
from reconciler.controller.git_process import run_git
from reconciler.errors import ConfigError, CxreconError
from reconciler.facade import open_project
from reconciler.load.files import SUFFIXES

#: Longest a pull may take before it is reported as failed (a hung remote must not stall).
PULL_TIMEOUT_SECONDS: Final = 120.0
_CREDENTIALS_IN_URL: Final = re.compile(r"([a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
_SHA: Final = re.compile(r"[0-9a-f]{40,64}")
#: How many discarded files a message names before it says "and N more".
_NAMED_FILES: Final = 5

log = logging.getLogger("cxrecon.controller")


@dataclass(frozen=True, slots=True)
class PullResult:
    """What one pull did: `commit` is HEAD afterwards (the commit the cycle uses)."""

    ok: bool
    commit: str | None
    previous: str | None
    message: str
    #: The branch no longer contains `previous` (a force-push or a rewind): followed anyway.
    rewritten: bool = False
    #: Tracked files whose local modifications were discarded to match the branch.
    discarded: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return self.ok and self.commit != self.previous


def own_checkout(path: Path, environ: Mapping[str, str]) -> bool:
    """Whether `path` is inside the controller's state directory ($STATE_DIRECTORY, set by
    systemd's StateDirectory=; several are separated by `:`): a clone it made for itself."""
    real = Path(os.path.realpath(path))
    states = [s for s in environ.get("STATE_DIRECTORY", "").split(":") if s.strip()]
    return any(real.is_relative_to(os.path.realpath(state)) for state in states)


class GitRepo:
    """A git working tree at `path` (cxrecon.yaml may sit in a subdirectory of it).

    `owned`: the checkout is the controller's own, a mirror it may reset; `dry_run`: pull()
    changes no file, index entry or ref of a checkout that is not (see the module docstring).
    """

    def __init__(
        self,
        path: Path,
        *,
        timeout: float = PULL_TIMEOUT_SECONDS,
        owned: bool = False,
        dry_run: bool = False,
    ) -> None:
        self.path = path
        self.timeout = timeout
        self.owned = owned
        self.dry_run = dry_run

    async def check(self) -> None:
        """ConfigError unless `path` is inside a git working tree."""
        code, _, err = await self._git("rev-parse", "--is-inside-work-tree")
        if code != 0:
            raise ConfigError(
                f"--repo {self.path} is not a git working tree ({_reason(err)}); clone the "
                "connectors repository there, or pass --no-pull to use the directory as it is"
            )

    async def head(self) -> str | None:
        code, out, _ = await self._git("rev-parse", "HEAD")
        sha = out.strip()
        return sha if code == 0 and _SHA.fullmatch(sha) else None

    async def pull(self) -> PullResult:
        """Fetch the current branch's upstream and check out the commit it points to now (see
        the module docstring); never raises for git trouble (it is the result). ConfigError
        when checking it out would lose uncommitted work or local commits of a checkout that
        is not the controller's own."""
        previous = await self.head()
        keep = not self.owned  # someone's clone: never reset over work
        if keep and not self.dry_run:
            work = await self._uncommitted()
            if work:
                raise ConfigError(self._refusal(f"has uncommitted changes ({_named(work)})"))

        def failed(why: str) -> PullResult:
            return PullResult(False, previous, previous, f"git pull failed: {why}")

        code, out, err = await self._git("symbolic-ref", "--quiet", "--short", "HEAD")
        branch = out.strip()
        if code != 0 or not branch:
            return failed(
                _reason(err)
                or "HEAD is detached (not on a branch); check out the branch to "
                "follow, e.g. main, with an upstream on the remote"
            )
        remote = await self._config(f"branch.{branch}.remote")
        merge = await self._config(f"branch.{branch}.merge")
        if not remote or not merge:
            return failed(
                f"There is no tracking information for the current branch {branch!r}: the "
                "controller follows the branch's upstream; clone the repository with "
                "--branch BRANCH (or set the branch's upstream)"
            )
        # The remote branch as last fetched: a commit that was on it, unlike a local one, was
        # published, so losing it from the branch is a rewrite.
        code, out, _ = await self._git("rev-parse", "--verify", "--quiet", f"{branch}@{{u}}")
        last = out.strip() if code == 0 and _SHA.fullmatch(out.strip()) else previous
        # Into FETCH_HEAD: what the remote's branch points to now, forced update or not. A dry
        # run on someone's clone moves no ref (empty refmap) and starts no gc or maintenance.
        quiet = ("-c", "gc.auto=0", "-c", "maintenance.auto=false")
        code, out, err = await self._git(
            *(quiet if keep and self.dry_run else ()),
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-recurse-submodules",
            *(("--refmap=",) if keep and self.dry_run else ()),
            "--",
            remote,
            merge,
        )
        if code != 0:
            return failed(_reason(err) or _reason(out) or f"git fetch exited with {code}")
        code, out, err = await self._git("rev-parse", "--verify", "--quiet", "FETCH_HEAD^{commit}")
        target = out.strip()
        where = f"{remote}/{merge.removeprefix('refs/heads/')}"
        if code != 0 or not _SHA.fullmatch(target):
            return failed(f"what was fetched from {where} is not a commit")
        rewritten = last is not None and not await self._contains(target, last)
        local = 0
        if previous is not None and not await self._contains(target, previous):
            local = await self._count(f"{target}..{previous}", f"^{last}" if last else "")
        if keep and not self.dry_run and local:
            raise ConfigError(
                self._refusal(f"has {_commits(local)} not on {where}", "push them, or ")
            )
        discarded = await self._modified()
        if self.dry_run and (keep or discarded or local):
            return await self._not_followed(previous, target, where, discarded, local)
        if previous != target or discarded:
            code, out, err = await self._git("reset", "--quiet", "--hard", target, "--")
            if code != 0:
                why = _reason(err) or _reason(out) or f"git reset exited with {code}"
                return failed(f"cannot check out {_short(target)} of {where}: {why}")
        commit = await self.head()
        if commit != target:
            return failed(f"HEAD is not {_short(target)} of {where} after git reset")
        message = _pull_message(where, previous, last, commit, rewritten, local, discarded)
        if rewritten or local or discarded:
            log.warning("%s: %s", self.path, message)
        return PullResult(True, commit, previous, message, rewritten, discarded)

    async def _not_followed(
        self,
        previous: str | None,
        target: str,
        where: str,
        modified: tuple[str, ...],
        local: int,
    ) -> PullResult:
        """A dry run that leaves the checkout as it is: what it plans and where the branch is."""
        work = modified if self.owned else await self._uncommitted()
        if previous == target and not work:
            return PullResult(True, previous, previous, f"up to date at {_short(target)}")
        notes = [f"dry run: planned the checkout as it is, at {_short(previous)}"]
        if work:
            notes.append(f"with uncommitted changes ({_named(work)})")
        if local:
            notes.append(f"and {_commits(local)} not on {where}")
        if previous != target:
            notes.append(f"; {where} is at {_short(target)}, not checked out")
        notes.append("(--dry-run changes no file)")
        message = " ".join(notes).replace(" ;", ";")
        log.info("%s: %s", self.path, message)
        return PullResult(True, previous, previous, message)

    def _refusal(self, what: str, advice: str = "commit and push or stash them, or ") -> str:
        return (
            f"--repo {self.path} {what}; the controller checks out what the branch holds and "
            f"would discard them: {advice}run it on a clean clone of its own (git clone "
            "--branch BRANCH URL DIR; cxrecon reconcile --repo DIR), or preview with --dry-run"
        )

    async def _uncommitted(self) -> tuple[str, ...]:
        """Work a reset would lose or a cycle would load unreviewed: tracked files modified or
        staged (anywhere), and untracked files under the connectors folder or cxrecon.yaml."""
        code, out, err = await self._git(
            "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"
        )
        if code != 0:
            raise ConfigError(f"--repo {self.path}: git status failed ({_reason(err)})")
        code, top, _ = await self._git("rev-parse", "--show-toplevel")
        loaded = await asyncio.to_thread(_loaded_folders, self.path, Path(top.strip()))
        found: set[str] = set()
        for entry in out.split("\0"):
            state, name = entry[:2], entry[3:]
            if not name:
                continue
            if state != "??" or _would_load(name, *loaded):
                found.add(name)
        return tuple(sorted(found))

    async def changed_files(self, old: str, new: str) -> tuple[Path, tuple[str, ...]] | None:
        """The top of the working tree and the files that differ between commits `old` and
        `new` (relative to it; a rename is its old and its new name), or None when git cannot
        tell (`old` gone after a rewrite, say): then nothing kept from `old` is trusted."""
        code, out, _ = await self._git("rev-parse", "--show-toplevel")
        top = out.strip()
        if code != 0 or not top:
            return None
        code, out, _ = await self._git(
            "diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", old, new, "--"
        )
        if code != 0:
            return None
        return Path(top), tuple(name for name in out.split("\0") if name)

    async def _config(self, key: str) -> str:
        code, out, _ = await self._git("config", "--get", key)
        return out.strip() if code == 0 else ""

    async def _contains(self, descendant: str, ancestor: str) -> bool:
        """Whether `ancestor` is in the history of `descendant` (a fast-forward)."""
        code, _, _ = await self._git("merge-base", "--is-ancestor", ancestor, descendant)
        return code == 0

    async def _count(self, *revisions: str) -> int:
        code, out, _ = await self._git("rev-list", "--count", *(r for r in revisions if r))
        return int(out.strip()) if code == 0 and out.strip().isdigit() else 0

    async def _modified(self) -> tuple[str, ...]:
        """Tracked files that differ from HEAD (staged or not); untracked ones are not ours."""
        code, out, _ = await self._git("diff", "HEAD", "--name-only", "-z", "--no-renames", "--")
        if code != 0:
            return ()
        return tuple(sorted({name for name in out.split("\0") if name}))

    async def _git(self, *args: str) -> tuple[int, str, str]:
        return await run_git(self.path, *args, limit=self.timeout)


def _reason(text: str) -> str:
    """The line of git's output that says what went wrong: its first `fatal:` / `error:`
    line, else its first line that is not a `hint:`. What follows is advice ("Please make
    sure ... and the repository exists.", a command to run), not the problem."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("fatal:", "error:"))]
    plain = [line for line in lines if not line.startswith("hint:")]
    chosen = (errors or plain or lines or [""])[0]
    # A remote URL may carry a token (https://user:token@host/...): never report it.
    return _CREDENTIALS_IN_URL.sub(r"\1***@", chosen)[:300]


def _pull_message(
    where: str,
    previous: str | None,
    last: str | None,
    commit: str | None,
    rewritten: bool,
    local: int,
    discarded: tuple[str, ...],
) -> str:
    """What a pull did, for the result and the log: pulled, rewritten or up to date, and
    what it discarded."""
    notes: list[str] = []
    if rewritten:
        notes.append(
            f"history of {where} was rewritten (force-push): {_short(last)} → "
            f"{_short(commit)}, which does not contain the old commit; following {where}"
        )
    elif commit != previous:
        notes.append(f"pulled {_short(previous)}..{_short(commit)}")
    else:
        notes.append(f"up to date at {_short(commit)}")
    if local:
        notes.append(f"discarded {local} local commit{'s' if local > 1 else ''} not on {where}")
    if discarded:
        notes.append(_discarded(discarded))
    return "; ".join(notes)


def _loaded_folders(path: Path, top: Path) -> tuple[str, str]:
    """What a cycle loads, relative to the top of the working tree: the connectors folder
    and cxrecon.yaml ("." when cxrecon.yaml cannot tell: the whole tree)."""
    try:
        project = open_project(path)
        connectors, config = project.connectors_path, project.root / PROJECT_FILE
        return _relative(connectors, top), _relative(config, top)
    except (CxreconError, OSError, ValueError):
        return ".", PROJECT_FILE


def _relative(path: Path, top: Path) -> str:
    return os.path.relpath(os.path.realpath(path), os.path.realpath(top))


def _would_load(name: str, folder: str, config: str) -> bool:
    """Whether a cycle reads untracked file `name`: cxrecon.yaml, or a connector file (YAML,
    in no hidden folder) under the connectors folder (`name` itself when it is one file)."""
    if name in (config, folder):
        return True
    inside = name if folder == "." else name.removeprefix(folder.rstrip("/") + "/")
    if inside == name and folder != ".":
        return False
    parts = inside.split("/")
    return parts[-1].endswith(SUFFIXES) and not any(p.startswith(".") for p in parts)


def _named(files: tuple[str, ...]) -> str:
    named = ", ".join(files[:_NAMED_FILES])
    more = f" and {len(files) - _NAMED_FILES} more" if len(files) > _NAMED_FILES else ""
    return named + more


def _commits(count: int) -> str:
    return f"{count} local commit{'s' if count > 1 else ''}"


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "(none)"


def _discarded(files: tuple[str, ...]) -> str:
    return f"discarded local modifications of {_named(files)} (the checkout follows the branch)"
