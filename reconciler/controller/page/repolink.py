"""Links from the page to the connectors repository's web view (GitHub or GitLab), derived
from `git remote get-url origin`; none for any other remote (a path, another host).

Only scheme, host and repository path are kept: user-info (a token in an https URL), ports of
ssh remotes, query strings and fragments never reach a link.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal
from urllib.parse import quote, urlsplit

from reconciler.controller.git_process import run_git

Forge = Literal["github", "gitlab"]

_SCP_LIKE: Final = re.compile(r"^(?:[^@/\s]+@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^\s]+)$")
_SEGMENT: Final = re.compile(r"^[A-Za-z0-9_.-]+$")
_SHA: Final = re.compile(r"^[0-9a-f]{7,64}$")
GIT_TIMEOUT_SECONDS: Final = 5.0


@dataclass(frozen=True, slots=True)
class RepoWeb:
    """A repository's web address: `https://HOST/OWNER/REPO` on GitHub or GitLab."""

    forge: Forge
    base: str

    def file_url(self, commit: str, path: str) -> str | None:
        """The file `path` (relative to the repository root) at `commit`."""
        if not _SHA.fullmatch(commit) or not path or path.startswith(("/", "../")):
            return None
        middle = "/-/blob/" if self.forge == "gitlab" else "/blob/"
        return f"{self.base}{middle}{commit}/{quote(path)}"

    def tree_url(self, commit: str, path: str = "") -> str | None:
        if not _SHA.fullmatch(commit) or path.startswith(("/", "../")):
            return None
        middle = "/-/tree/" if self.forge == "gitlab" else "/tree/"
        return f"{self.base}{middle}{commit}" + (f"/{quote(path)}" if path else "")

    def commit_url(self, commit: str) -> str | None:
        if not _SHA.fullmatch(commit):
            return None
        middle = "/-/commit/" if self.forge == "gitlab" else "/commit/"
        return f"{self.base}{middle}{commit}"


def web_of(remote: str) -> RepoWeb | None:
    """The web view of a git remote URL, for github.com / gitlab.com and hosts named like
    `github.*` / `gitlab.*` (GitHub Enterprise, self-managed GitLab); None otherwise."""
    text = remote.strip()
    host: str | None
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in ("https", "http", "ssh", "git", "git+ssh", "ssh+git"):
            return None
        host, path = parts.hostname, parts.path
    else:
        match = _SCP_LIKE.fullmatch(text)
        if match is None:
            return None
        host, path = match["host"], match["path"]
    if not host:
        return None
    host = host.lower()
    forge = _forge(host)
    if forge is None:
        return None
    path = path.strip("/").removesuffix(".git").removesuffix("/")
    segments = path.split("/")
    if len(segments) < 2 or any(not _SEGMENT.fullmatch(s) or s in (".", "..") for s in segments):
        return None
    if forge == "github" and len(segments) != 2:
        return None
    return RepoWeb(forge, f"https://{host}/{'/'.join(segments)}")


def _forge(host: str) -> Forge | None:
    first = host.split(".", 1)[0]
    if host == "github.com" or first == "github":
        return "github"
    if host == "gitlab.com" or first == "gitlab":
        return "gitlab"
    return None


@dataclass(frozen=True, slots=True)
class RepoInfo:
    """What the page needs of the checkout: its web view (if any) and its top folder."""

    web: RepoWeb | None = None
    toplevel: Path | None = None

    def relative(self, path: str | Path) -> str | None:
        """`path` (absolute, or relative to the working directory as the loader names files)
        relative to the repository root, with forward slashes; None outside the repository."""
        if self.toplevel is None:
            return None
        try:
            return Path(os.path.abspath(path)).relative_to(self.toplevel).as_posix()
        except ValueError:
            return None


async def repo_info(checkout: Path) -> RepoInfo:
    """Ask git about `checkout`; never raises (no git, no remote: fewer links)."""
    code, top = await _git(checkout, "rev-parse", "--show-toplevel")
    toplevel = Path(top) if code == 0 and top else None  # git prints an absolute path
    code, url = await _git(checkout, "remote", "get-url", "origin")
    web = web_of(url) if code == 0 and url else None
    return RepoInfo(web, toplevel)


async def _git(checkout: Path, *args: str) -> tuple[int, str]:
    code, out, _ = await run_git(checkout, *args, limit=GIT_TIMEOUT_SECONDS)
    return code, out.strip()


@dataclass(frozen=True, slots=True)
class Commit:
    sha: str
    short: str
    href: str | None


def commit_of(sha: str | None, repo: RepoInfo) -> Commit | None:
    if not sha:
        return None
    return Commit(sha, sha[:12], repo.web.commit_url(sha) if repo.web else None)
