"""One GitHub issue per environment for drift: opened when CXone differs from the last apply,
its body refreshed while the drift persists, closed with a comment once the tenant is clean."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from reconciler.github.gh import GhCli, Issue
from reconciler.github.outcome import DriftOutcome

#: GitHub rejects issue bodies over 65,536 characters; keep a margin for the frame.
ISSUE_LIMIT: Final = 65_000
DEFAULT_LABEL: Final = "cxrecon-drift"
LABEL_COLOR: Final = "d93f0b"
LABEL_DESCRIPTION: Final = "cxrecon found changes made in CXone outside git"


def drift_marker(environment: str) -> str:
    return f"<!-- cxrecon-drift:{environment} -->"


def drift_title(environment: str) -> str:
    return f"Drift in {environment}: CXone connectors changed outside git"


@dataclass(frozen=True)
class DriftReport:
    environment: str
    outcome: DriftOutcome
    drift_markdown: str
    checked_at: str
    run_url: str | None
    label: str


@dataclass(frozen=True)
class IssueAction:
    action: Literal["opened", "updated", "closed", "none"]
    issues: tuple[Issue, ...] = ()


def reconcile_issue(gh: GhCli, report: DriftReport) -> IssueAction:
    """Bring the environment's drift issue in line with the drift check's outcome."""
    if report.outcome is DriftOutcome.ERROR:
        # We could not tell whether CXone drifted: leave any open issue exactly as it is.
        return IssueAction("none")
    open_issues = find_issues(gh.list_open_issues(report.label), report.environment)
    if report.outcome is DriftOutcome.IN_SYNC:
        if not open_issues:
            return IssueAction("none")
        comment = render_resolved(report)
        for issue in open_issues:
            gh.create_issue_comment(issue.number, comment)
            gh.update_issue(issue.number, state="closed", state_reason="completed")
        return IssueAction("closed", tuple(open_issues))
    body = render_body(report)
    if open_issues:
        # If several are open (someone reopened an old one), keep the oldest current.
        return IssueAction("updated", (gh.update_issue(open_issues[0].number, body=body),))
    gh.ensure_label(report.label, color=LABEL_COLOR, description=LABEL_DESCRIPTION)
    issue = gh.create_issue(drift_title(report.environment), body, [report.label])
    return IssueAction("opened", (issue,))


def find_issues(issues: list[Issue], environment: str) -> list[Issue]:
    """Open issues for this environment, oldest first, recognised by the body's marker."""
    marker = drift_marker(environment)
    return sorted(
        (issue for issue in issues if issue.body.lstrip().startswith(marker)),
        key=lambda issue: issue.number,
    )


def render_body(report: DriftReport) -> str:
    run = f" ([workflow run]({report.run_url}))" if report.run_url else ""
    head = [
        drift_marker(report.environment),
        f"**cxrecon found changes made in CXone for `{report.environment}` that are not in git.**",
        f"Last checked {report.checked_at}{run}. This issue is updated on every scheduled "
        f"check while the drift persists and closed automatically once `{report.environment}` "
        "matches git again.",
    ]
    drift = report.drift_markdown.strip() or "_`cxrecon drift` printed no Markdown._"
    budget = ISSUE_LIMIT - sum(len(p) + 2 for p in head)
    if len(drift) > budget:
        drift = (
            f"_The drift report is {len(drift):,} characters, over GitHub's issue limit; "
            f"run `cxrecon drift -e {report.environment}` to see all of it._"
        )
    return "\n\n".join([*head, drift]) + "\n"


def render_resolved(report: DriftReport) -> str:
    run = f" ([workflow run]({report.run_url}))" if report.run_url else ""
    return (
        f"✅ `{report.environment}` is back in sync with git as of {report.checked_at}{run}. "
        "Closing; a new issue opens if drift comes back."
    )
