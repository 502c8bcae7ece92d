"""Who ran cxrecon, for every audit record: the OS user, the CI actor when there is one, and
the git commit applied (reconciler.apply.audit stamps it on each record)."""

from __future__ import annotations

import getpass
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

#: Environment variables that name the person or bot behind a CI run, first match wins.
CI_ACTOR_VARIABLES: Final = (
    "GITHUB_ACTOR",
    "GITLAB_USER_LOGIN",
    "BUILDKITE_BUILD_CREATOR",
    "CIRCLE_USERNAME",
    "BITBUCKET_STEP_TRIGGERER_UUID",
    "BUILD_REQUESTEDFOR",  # Azure Pipelines
    "CI_ACTOR",
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who ran cxrecon: the OS user, the CI actor when present and the git commit applied."""

    user: str
    ci_actor: str | None = None
    git_commit: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"user": self.user, "ciActor": self.ci_actor, "gitCommit": self.git_commit}


def detect_actor(environ: Mapping[str, str], repo_dir: Path | None = None) -> Actor:
    """The actor of this run; never fails (an audit record must be written regardless)."""
    ci_actor = next((environ[v] for v in CI_ACTOR_VARIABLES if environ.get(v)), None)
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no passwd entry in some containers
        user = environ.get("USER") or environ.get("USERNAME") or "unknown"
    commit = environ.get("GITHUB_SHA") or _git_head(repo_dir)
    return Actor(user=user, ci_actor=ci_actor, git_commit=commit)


def _git_head(repo_dir: Path | None) -> str | None:
    cwd = repo_dir if repo_dir is not None and repo_dir.is_dir() else None
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607 - git from PATH, as the user runs it
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", sha) else None
