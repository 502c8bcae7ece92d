"""The desired-state checkout the controller follows: a fast-forward-only `git pull` per cycle.

A failed pull (network, diverged history, a dirty tree) is reported and leaves the working
tree at the last good commit, which the cycle keeps using.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from reconciler.errors import ConfigError

#: Longest a pull may take before it is reported as failed (a hung remote must not stall).
PULL_TIMEOUT_SECONDS: Final = 120.0
_CREDENTIALS_IN_URL: Final = re.compile(r"([a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
_SHA: Final = re.compile(r"[0-9a-f]{40,64}")


@dataclass(frozen=True, slots=True)
class PullResult:
    """What one pull did: `commit` is HEAD afterwards (the commit the cycle uses)."""

    ok: bool
    commit: str | None
    previous: str | None
    message: str

    @property
    def changed(self) -> bool:
        return self.ok and self.commit != self.previous


class GitRepo:
    """A git working tree at `path` (cxrecon.yaml may sit in a subdirectory of it)."""

    def __init__(self, path: Path, *, timeout: float = PULL_TIMEOUT_SECONDS) -> None:
        self.path = path
        self.timeout = timeout

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
        """`git pull --ff-only`; never raises for git trouble (it is the result)."""
        previous = await self.head()
        code, out, err = await self._git("pull", "--ff-only", "--no-rebase", "--quiet")
        commit = await self.head()
        if code != 0:
            why = _reason(err) or _reason(out) or f"git exited with {code}"
            return PullResult(False, commit, previous, f"git pull failed: {why}")
        if commit != previous:
            return PullResult(
                True, commit, previous, f"pulled {_short(previous)}..{_short(commit)}"
            )
        return PullResult(True, commit, previous, f"up to date at {_short(commit)}")

    async def _git(self, *args: str) -> tuple[int, str, str]:
        env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",  # never wait for a password on a tty nobody watches
            "GIT_ASKPASS": "",
            "LC_ALL": "C",  # messages in a stable language for the report
        }
        env.pop("GIT_DIR", None)
        env.pop("GIT_WORK_TREE", None)
        try:
            proc = await asyncio.create_subprocess_exec(
                "git",
                "-C",
                str(self.path),
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
        except OSError as exc:
            return 127, "", f"cannot run git: {exc.strerror or exc}"
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return 124, "", f"timed out after {self.timeout:.0f}s"
        code = proc.returncode if proc.returncode is not None else 1
        return code, out.decode(errors="replace"), err.decode(errors="replace")


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


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "(none)"
