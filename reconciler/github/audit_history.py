"""An environment's audit history across workflow runs: every apply job uploads the whole
history as the artifact `cxrecon-audit-<env>`; the next apply and the drift job fetch it back.

Several runs may overlap (an apply while a drift job reads), so the newest few artifacts made
on this branch are merged, oldest first, each line once: a record no later artifact kept is
never lost. Artifacts of other branches (a pull request's run could upload one by the same
name) and expired ones are not read. Writes the file even when there is none (empty), so
`--audit-log FILE` always names a file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from reconciler.safefs import write_atomic

#: Artifacts merged: enough to cover the runs that may overlap one another.
MERGED_ARTIFACTS: Final = 5


class ArtifactSource(Protocol):
    def list_artifacts(self, name: str) -> list[dict[str, object]]: ...
    def download_artifact(self, run_id: int, name: str, directory: str) -> None: ...


@dataclass(frozen=True)
class History:
    """What was fetched: the file written, the records in it, the runs they came from."""

    path: Path
    records: int
    runs: tuple[int, ...]


def artifact_name(environment: str) -> str:
    return f"cxrecon-audit-{environment}"


def file_name(environment: str) -> str:
    """The file inside the artifact (apply-environment.yml's --audit-log)."""
    return f"audit-{environment}.jsonl"


def fetch_history(gh: ArtifactSource, *, environment: str, branch: str, out: Path) -> History:
    """Merge the newest `MERGED_ARTIFACTS` usable artifacts of `environment` into `out`."""
    name = artifact_name(environment)
    runs = _runs(gh.list_artifacts(name), branch)[:MERGED_ARTIFACTS]
    seen: set[bytes] = set()
    lines: list[bytes] = []
    with tempfile.TemporaryDirectory(prefix="cxrecon-audit-") as scratch:
        for index, run_id in enumerate(reversed(runs)):  # oldest first: order of writing
            directory = Path(scratch) / str(index)
            gh.download_artifact(run_id, name, str(directory))
            found = directory / file_name(environment)
            if not found.is_file():
                continue
            for line in found.read_bytes().splitlines():
                if line.strip() and line not in seen:
                    seen.add(line)
                    lines.append(line)
    write_atomic(out, b"".join(line + b"\n" for line in lines), what="audit history")
    return History(out, len(lines), tuple(runs))


def _runs(artifacts: Sequence[dict[str, object]], branch: str) -> list[int]:
    """Run ids of the usable artifacts, newest first."""
    usable: list[tuple[str, int]] = []
    for artifact in artifacts:
        run = artifact.get("workflow_run")
        if artifact.get("expired") or not isinstance(run, dict):
            continue
        run_id = run.get("id")
        same_repository = run.get("head_repository_id") == run.get("repository_id")
        if not isinstance(run_id, int) or not same_repository or run.get("head_branch") != branch:
            continue
        usable.append((str(artifact.get("created_at") or ""), run_id))
    usable.sort(reverse=True)
    ordered: list[int] = []
    for _, run_id in usable:
        if run_id not in ordered:
            ordered.append(run_id)
    return ordered
