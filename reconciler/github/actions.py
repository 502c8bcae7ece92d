"""The GitHub Actions runner environment as cxrecon's workflow helpers see it: the run's
context, the event payload, step outputs, the job summary and workflow-command annotations."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from reconciler.errors import GitHubContextError
from reconciler.render.escape import workflow_data, workflow_property
from reconciler.safefs import append_whole

#: GitHub environment names we accept: they end up in markers, titles and artifact names.
ENVIRONMENT_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

AnnotationLevel = Literal["error", "warning", "notice"]


@dataclass(frozen=True)
class ActionsContext:
    """The variables GitHub sets in every job, read once."""

    repository: str
    server_url: str
    run_id: str | None
    run_attempt: str | None
    sha: str | None
    event_name: str | None
    event_path: Path | None
    step_summary: Path | None
    output: Path | None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ActionsContext:
        repository = environ.get("GITHUB_REPOSITORY", "")
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
            raise GitHubContextError(
                "GITHUB_REPOSITORY is not set to OWNER/NAME: run this inside a GitHub Actions "
                "job, or export GITHUB_REPOSITORY=owner/name to run it by hand."
            )
        return cls(
            repository=repository,
            server_url=environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/"),
            run_id=environ.get("GITHUB_RUN_ID") or None,
            run_attempt=environ.get("GITHUB_RUN_ATTEMPT") or None,
            sha=environ.get("GITHUB_SHA") or None,
            event_name=environ.get("GITHUB_EVENT_NAME") or None,
            event_path=_path(environ.get("GITHUB_EVENT_PATH")),
            step_summary=_path(environ.get("GITHUB_STEP_SUMMARY")),
            output=_path(environ.get("GITHUB_OUTPUT")),
        )

    @property
    def run_url(self) -> str | None:
        """The link to this workflow run (its logs), or None outside a run."""
        if self.run_id is None:
            return None
        url = f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"
        if self.run_attempt and self.run_attempt != "1":
            url += f"/attempts/{self.run_attempt}"
        return url


@dataclass(frozen=True)
class PullRequest:
    """The parts of a pull_request event payload the plan comment needs."""

    number: int
    head_sha: str
    head_repository: str | None
    base_repository: str | None

    @property
    def from_fork(self) -> bool:
        return self.head_repository is not None and self.head_repository != self.base_repository


def read_pull_request(context: ActionsContext) -> PullRequest:
    """The pull request this run is for, from GITHUB_EVENT_PATH."""
    if context.event_path is None:
        raise GitHubContextError(
            "GITHUB_EVENT_PATH is not set: this command reads the pull_request event payload, "
            "so run it in a workflow triggered by pull_request."
        )
    try:
        payload = json.loads(context.event_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GitHubContextError(
            f"{context.event_path}: cannot read the event payload ({exc}); "
            "GitHub writes it for every run, so check GITHUB_EVENT_PATH."
        ) from exc
    pull = payload.get("pull_request") if isinstance(payload, dict) else None
    if not isinstance(pull, dict) or not isinstance(pull.get("number"), int):
        event = context.event_name or "this"
        raise GitHubContextError(
            f"{context.event_path}: the {event} event has no pull request; "
            "plan comments are posted from workflows triggered by pull_request."
        )
    head = _mapping(pull.get("head"))
    base = _mapping(pull.get("base"))
    return PullRequest(
        number=pull["number"],
        head_sha=str(head.get("sha", "")),
        head_repository=_full_name(head),
        base_repository=_full_name(base),
    )


def write_outputs(context: ActionsContext, values: Mapping[str, str]) -> None:
    """Append step outputs to GITHUB_OUTPUT (no-op outside Actions)."""
    if context.output is None:
        return
    lines = []
    for name, value in values.items():
        if "\n" in value or "\r" in value:
            # A random delimiter cannot be forged by the value (GitHub's documented form).
            delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
            lines.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
        else:
            lines.append(f"{name}={value}\n")
    append_whole(context.output, "".join(lines).encode("utf-8"), what="step outputs")


def append_summary(context: ActionsContext, markdown: str) -> None:
    """Append Markdown to the job summary (no-op outside Actions)."""
    if context.step_summary is None:
        return
    text = markdown.rstrip("\n") + "\n\n"
    append_whole(context.step_summary, text.encode("utf-8"), what="job summary")


def annotation(level: AnnotationLevel, message: str, *, title: str | None = None) -> str:
    """A workflow command line (`::error title=…::message`) with GitHub's escaping (and
    other control characters shown as escapes)."""
    properties = f" title={workflow_property(title)}" if title else ""
    return f"::{level}{properties}::{workflow_data(message)}"


def _full_name(ref: Mapping[str, object]) -> str | None:
    repo = ref.get("repo")
    if isinstance(repo, dict) and isinstance(repo.get("full_name"), str):
        return str(repo["full_name"])
    return None


def _mapping(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None
