"""Typed GitHub REST calls made through the `gh` CLI, which brings its own authentication
(GH_TOKEN in a workflow); cxrecon never reads, logs or forwards a token itself."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from reconciler.errors import GitHubError

#: Seconds one `gh` call may take before we give up (GitHub API calls take well under this).
GH_TIMEOUT: Final = 120
API_HEADERS: Final = ("Accept: application/vnd.github+json", "X-GitHub-Api-Version: 2022-11-28")
TOKEN_VARIABLES: Final = ("GH_TOKEN", "GITHUB_TOKEN", "GH_ENTERPRISE_TOKEN")


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    url: str


@dataclass(frozen=True)
class Issue:
    number: int
    title: str
    body: str
    url: str


class GhCli:
    """The GitHub REST calls cxrecon's workflows make, for one repository."""

    def __init__(
        self,
        repository: str,
        *,
        environ: Mapping[str, str] | None = None,
        executable: str = "gh",
    ) -> None:
        self.repository = repository
        self._environ = dict(os.environ if environ is None else environ)
        self._executable = executable

    # -- comments (pull requests are issues for the comments API) -------------------------

    def list_issue_comments(self, number: int) -> list[Comment]:
        items = self._api("GET", f"issues/{number}/comments?per_page=100", paginate=True)
        return [_comment(item) for item in items]

    def create_issue_comment(self, number: int, body: str) -> Comment:
        (item,) = self._api("POST", f"issues/{number}/comments", {"body": body})
        return _comment(item)

    def update_issue_comment(self, comment_id: int, body: str) -> Comment:
        (item,) = self._api("PATCH", f"issues/comments/{comment_id}", {"body": body})
        return _comment(item)

    # -- issues and labels ----------------------------------------------------------------

    def pull_request_labels(self, number: int) -> frozenset[str]:
        # Read live rather than from the event payload: a re-run keeps its original payload.
        items = self._api("GET", f"issues/{number}/labels?per_page=100", paginate=True)
        return frozenset(str(item.get("name", "")) for item in items)

    def list_open_issues(self, label: str) -> list[Issue]:
        query = f"issues?state=open&labels={quote(label, safe='')}&per_page=100"
        items = self._api("GET", query, paginate=True)
        # The issues API lists pull requests too; they carry a "pull_request" key.
        return [_issue(item) for item in items if "pull_request" not in item]

    def create_issue(self, title: str, body: str, labels: Sequence[str]) -> Issue:
        payload = {"title": title, "body": body, "labels": list(labels)}
        (item,) = self._api("POST", "issues", payload)
        return _issue(item)

    def update_issue(self, number: int, **fields: str) -> Issue:
        (item,) = self._api("PATCH", f"issues/{number}", dict(fields))
        return _issue(item)

    def ensure_label(self, name: str, *, color: str, description: str) -> None:
        # `--force` makes this idempotent: create, or update the existing label in place.
        args = ["label", "create", name, "--color", color, "--description", description]
        self._run([*args, "--force", "--repo", self.repository], stdin=None, what=f"label {name}")

    # -- the reviewed plan of a merge ------------------------------------------------------

    def pulls_of_commit(self, sha: str) -> list[dict[str, object]]:
        """The pull requests associated with commit `sha` (merged ones carry
        `merge_commit_sha` and `merged_at`)."""
        return self._api("GET", f"commits/{sha}/pulls?per_page=100")

    def workflow_runs(self, workflow: str, *, head_sha: str) -> list[dict[str, object]]:
        """Pull-request runs of `workflow` (a file name) for head commit `head_sha`."""
        query = (
            f"actions/workflows/{quote(workflow, safe='')}/runs?event=pull_request"
            f"&head_sha={quote(head_sha, safe='')}&per_page=100"
        )
        runs: list[dict[str, object]] = []
        for page in self._api("GET", query):
            found = page.get("workflow_runs")
            runs += [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []
        return runs

    def download_artifact(self, run_id: int, name: str, directory: str) -> None:
        """Download artifact `name` of run `run_id` into `directory` (gh unpacks it)."""
        args = ["run", "download", str(run_id), "--repo", self.repository]
        self._run([*args, "--name", name, "--dir", directory], stdin=None, what=f"artifact {name}")

    def list_artifacts(self, name: str) -> list[dict[str, object]]:
        """The repository's artifacts called `name`, each with its `workflow_run`."""
        query = f"actions/artifacts?name={quote(name, safe='')}&per_page=100"
        artifacts: list[dict[str, object]] = []
        for page in self._api("GET", query):
            found = page.get("artifacts")
            if isinstance(found, list):
                artifacts += [a for a in found if isinstance(a, dict)]
        return artifacts

    # -- plumbing -------------------------------------------------------------------------

    def _api(
        self,
        method: str,
        path: str,
        body: Mapping[str, object] | None = None,
        *,
        paginate: bool = False,
    ) -> list[dict[str, object]]:
        endpoint = f"repos/{self.repository}/{path}"
        args = ["api", "--method", method, endpoint]
        for header in API_HEADERS:
            args += ["--header", header]
        if paginate:
            args.append("--paginate")
        stdin = None
        if body is not None:
            args += ["--input", "-"]
            stdin = json.dumps(body)
        output = self._run(args, stdin=stdin, what=f"{method} {endpoint}")
        return _objects(output, f"{method} {endpoint}")

    def _run(self, args: list[str], *, stdin: str | None, what: str) -> str:
        executable = shutil.which(self._executable, path=self._environ.get("PATH"))
        if executable is None:
            raise GitHubError(
                f"{what}: the `gh` CLI is not on PATH. GitHub-hosted runners ship it; "
                "on a self-hosted runner install it (https://cli.github.com)."
            )
        try:
            done = subprocess.run(  # noqa: S603 - fixed argv, no shell
                [executable, *args],
                # Without a body, gh gets no stdin at all: it must never wait on the job's.
                **({"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}),
                capture_output=True,
                text=True,
                env=self._environ,
                timeout=GH_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise GitHubError(
                f"{what}: gh did not answer within {GH_TIMEOUT}s; re-run the job."
            ) from exc
        if done.returncode != 0:
            raise GitHubError(f"{what} failed: {self._explain(done.stderr or done.stdout)}")
        return done.stdout

    def _explain(self, stderr: str) -> str:
        detail = self._redact(" ".join(stderr.split()))[:500] or "no message"
        if "HTTP 401" in stderr or "gh auth login" in stderr:
            hint = "set GH_TOKEN: ${{ github.token }} in the step's env"
        elif "HTTP 403" in stderr:
            hint = (
                "the job's token lacks a permission: grant `pull-requests: write` (plan "
                "comments), `issues: write` (drift issues) or `actions: read` (plan and "
                "audit artifacts) in the job's permissions"
            )
        elif "HTTP 404" in stderr:
            hint = "check GITHUB_REPOSITORY and that the pull request or issue exists"
        else:
            hint = "re-run the job; if it persists, check githubstatus.com"
        return f"{detail} ({hint})"

    def _redact(self, text: str) -> str:
        # gh does not print tokens, but its messages are shown to people: make sure of it.
        for variable in TOKEN_VARIABLES:
            token = self._environ.get(variable)
            if token and len(token) >= 4:
                text = text.replace(token, "***")
        return text


def _objects(output: str, what: str) -> list[dict[str, object]]:
    """gh prints one JSON document per page with --paginate: `[...][...]`; flatten them."""
    decoder = json.JSONDecoder()
    items: list[dict[str, object]] = []
    position = 0
    text = output.strip()
    while position < len(text):
        try:
            document, position = decoder.raw_decode(text, position)
        except ValueError as exc:
            raise GitHubError(f"{what}: gh printed something that is not JSON ({exc})") from exc
        for item in document if isinstance(document, list) else [document]:
            if not isinstance(item, dict):
                raise GitHubError(f"{what}: expected JSON objects from GitHub, got {item!r:.80}")
            items.append(item)
        while position < len(text) and text[position].isspace():
            position += 1
    return items


def _comment(item: Mapping[str, object]) -> Comment:
    return Comment(id=_int(item, "id"), body=_str(item, "body"), url=_str(item, "html_url"))


def _issue(item: Mapping[str, object]) -> Issue:
    return Issue(
        number=_int(item, "number"),
        title=_str(item, "title"),
        body=_str(item, "body"),
        url=_str(item, "html_url"),
    )


def _int(item: Mapping[str, object], key: str) -> int:
    value = item.get(key)
    if not isinstance(value, int):
        raise GitHubError(f"GitHub's answer has no integer {key!r}; is gh up to date?")
    return value


def _str(item: Mapping[str, object], key: str) -> str:
    value = item.get(key)
    return value if isinstance(value, str) else ""
