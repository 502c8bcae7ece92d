"""The compliance trail of `cxrecon apply` and `cxrecon sync`: one JSON line per write and per sync.

Append-only, each line flushed as it is written and the file fsynced on close (also on
Ctrl-C and SIGTERM); values under secret-bearing paths and any registered secret are masked.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import re
import subprocess
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Literal

from reconciler.secret import MASK, Secret, mask_value, spellings

DEFAULT_AUDIT_LOG: Final = Path(".cxrecon") / "audit.jsonl"
SCHEMA_VERSION: Final = 1

Result = Literal["success", "failure", "conflict", "skipped"]

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


@dataclass(frozen=True, slots=True)
class ObservedChange:
    """A field someone else changed between our read and our write (values already masked)."""

    path: str
    seen: Any
    found: Any

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "seen": self.seen, "found": self.found}


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One write or sync attempt, as the executor saw it."""

    connector: str
    action: str
    result: Result
    connector_id: str | None = None
    fields: tuple[str, ...] = ()
    etag_before: str | None = None
    etag_after: str | None = None
    http_status: int | None = None
    attempts: int = 1
    latency_ms: float = 0.0
    error_class: str | None = None
    error_message: str | None = None
    out_of_band: tuple[ObservedChange, ...] = ()
    details: Mapping[str, str | int | float | bool | None] = field(default_factory=dict)


class AuditLog:
    """An append-only JSON Lines file; thread-safe; `close()` is idempotent and fsyncs."""

    def __init__(
        self,
        path: Path,
        *,
        actor: Actor,
        environment: str | None,
        run_id: str | None = None,
        command: str = "apply",
    ) -> None:
        self.path = path
        self.actor = actor
        self.environment = environment
        self.run_id = run_id or uuid.uuid4().hex
        self.command = command
        self.records_written = 0
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        # "a" is O_APPEND: concurrent runs interleave whole lines, never overwrite each other.
        self._fh: IO[str] | None = path.open("a", encoding="utf-8")

    def register_secret(self, secret: Secret) -> None:
        """A resolved secret value that must never reach the file, even inside a message."""
        value = secret.reveal()
        if len(value) >= 4:  # masking very short strings would garble ordinary text
            # Every spelling: a message quoting a server's answer may hold it JSON-escaped.
            forms = {form for form in spellings(value) if len(form) >= 4}
            with self._lock:
                self._secrets.update(forms)

    def record(self, event: AuditEvent) -> None:
        line = self._scrub(json.dumps(self._to_json(event), sort_keys=False, default=str))
        with self._lock:
            if self._fh is None:
                raise RuntimeError(f"audit log {self.path} is closed")
            self._fh.write(line + "\n")
            # Flush each line to the OS: a killed process loses no record already written.
            self._fh.flush()
            self.records_written += 1

    def close(self) -> None:
        with self._lock:
            fh, self._fh = self._fh, None
        if fh is None:
            return
        try:
            fh.flush()
            os.fsync(fh.fileno())
        finally:
            fh.close()

    @property
    def closed(self) -> bool:
        return self._fh is None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _to_json(self, event: AuditEvent) -> dict[str, Any]:
        return {
            "v": SCHEMA_VERSION,
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "runId": self.run_id,
            "command": self.command,
            "actor": self.actor.to_json(),
            "environment": self.environment,
            "connector": event.connector,
            "connectorId": event.connector_id,
            "action": event.action,
            "fields": list(event.fields),
            "etagBefore": event.etag_before,
            "etagAfter": event.etag_after,
            "httpStatus": event.http_status,
            "attempts": event.attempts,
            "latencyMs": round(event.latency_ms, 3),
            "result": event.result,
            "error": (
                None
                if event.error_class is None
                else {"class": event.error_class, "message": event.error_message}
            ),
            "outOfBand": [c.to_json() for c in event.out_of_band],
            "details": dict(event.details),
        }

    def _scrub(self, line: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for value in secrets:
            encoded = json.dumps(value)[1:-1]  # the value as it appears inside a JSON string
            line = line.replace(encoded, MASK)
        return line


def observed_changes(
    changes: Iterable[tuple[str, Any, Any]],
) -> tuple[ObservedChange, ...]:
    """Out-of-band changes as audit entries, secret-bearing values masked."""
    return tuple(
        ObservedChange(path=p, seen=mask_value(p, seen), found=mask_value(p, found))
        for p, seen, found in changes
    )
