"""The plan reviewed for a merge (Atlantis's plan of record): on a push to main, find the
pull request whose merge made the commit, the plan workflow's run for that pull request's
head commit, and its saved-plan artifact for one environment.

The artifact is input from a pull-request run, so it is only ever a choice: `cxrecon apply
--plan FILE --if-stale reviewed` checks its checksum, rebuilds every change from the merged
commit's files (never from the file), pins each connector's ETag, and writes only what was
reviewed (reconciler.plan.review_rule). When there is none (a push without a pull request, a
run by hand, a fork's pull request that got no plan job), the apply plans afresh and the
safety gate holds;
when the merged pull request's plan exists but cannot be used (`Found.unusable`: expired,
damaged, for another environment), the apply must stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reconciler.errors import CxreconError
from reconciler.plan.saved import read


class ReviewSource(Protocol):
    def pulls_of_commit(self, sha: str) -> list[dict[str, object]]: ...
    def workflow_runs(self, workflow: str, *, head_sha: str) -> list[dict[str, object]]: ...
    def download_artifact(self, run_id: int, name: str, directory: str) -> None: ...


@dataclass(frozen=True)
class Found:
    """The reviewed plan's file, or why there is none (`path` None)."""

    path: Path | None
    why: str
    pull_request: int | None = None
    head_sha: str | None = None
    run_id: int | None = None
    #: A plan of the merged pull request exists but cannot be used (not downloadable,
    #: damaged, for another environment): the apply must stop, not plan afresh.
    unusable: bool = False


def artifact_name(environment: str) -> str:
    """The artifact plan.yml uploads per environment (and the file inside it)."""
    return f"cxrecon-plan-{environment}"


def find_reviewed_plan(
    gh: ReviewSource,
    *,
    sha: str,
    event: str | None,
    environment: str,
    workflow: str,
    directory: Path,
) -> Found:
    """The reviewed plan of the merge that made `sha`, downloaded into `directory`, or why
    there is none."""
    if event != "push":
        return Found(None, f"run by {event or 'hand'}, not by a merge: no reviewed plan")
    merged = _merged_pull(gh, sha)
    if isinstance(merged, Found):
        return merged
    number, head_sha = merged
    runs = [
        r
        for r in gh.workflow_runs(workflow, head_sha=head_sha)
        if r.get("head_sha") == head_sha and isinstance(r.get("id"), int)
    ]
    if not runs:
        why = f"{workflow} has no run for pull request #{number} at {head_sha[:12]}"
        return Found(None, f"{why}: no reviewed plan", number, head_sha)
    latest = max(runs, key=lambda r: (_int(r.get("run_number")), _int(r.get("run_attempt"))))
    return _download(gh, _int(latest.get("id")), number, head_sha, environment, directory)


def _merged_pull(gh: ReviewSource, sha: str) -> tuple[int | None, str] | Found:
    """The number and head commit of the pull request whose merge made `sha`."""
    merged = [
        pr
        for pr in gh.pulls_of_commit(sha)
        if pr.get("merged_at") and pr.get("merge_commit_sha") == sha
    ]
    if not merged:
        return Found(None, f"no pull request was merged as {sha}: no reviewed plan")
    pr = merged[0]
    raw_number = pr.get("number")
    number = raw_number if isinstance(raw_number, int) else None
    head = pr.get("head")
    head_sha = head.get("sha") if isinstance(head, dict) else None
    if not isinstance(head_sha, str) or not head_sha:
        return Found(None, f"pull request #{number} has no head commit in GitHub's answer")
    return number, head_sha


def _download(
    gh: ReviewSource,
    run_id: int,
    number: int | None,
    head_sha: str,
    environment: str,
    directory: Path,
) -> Found:
    """The run's plan artifact for `environment`, checked to be a saved plan for it."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        gh.download_artifact(run_id, artifact_name(environment), str(directory))
    except CxreconError as exc:
        why = f"the plan of pull request #{number} (run {run_id}) could not be downloaded"
        why += f" ({exc}); it may have expired"
        return Found(None, why, number, head_sha, run_id, unusable=True)
    path = directory / f"plan-{environment}.json"
    try:
        saved = read(path)
    except CxreconError as exc:
        why = f"the reviewed plan is unusable: {exc}"
        return Found(None, why, number, head_sha, run_id, unusable=True)
    if saved.environment not in (None, environment):
        why = f"the reviewed plan is for environment {saved.environment}, not {environment}"
        return Found(None, why, number, head_sha, run_id, unusable=True)
    why = f"the plan reviewed in pull request #{number} (run {run_id}, commit {head_sha[:12]})"
    return Found(path, why, number, head_sha, run_id)


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0
