"""One sticky pull-request comment per environment holding the latest plan: found by a hidden
marker on its first line, edited in place on every push, created only when absent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from reconciler.github.gh import Comment, GhCli
from reconciler.github.outcome import PlanOutcome

#: GitHub rejects comment bodies over 65,536 characters; keep a margin for the frame.
COMMENT_LIMIT: Final = 65_000
#: The label a maintainer adds to accept a plan over the safety gate.
DEFAULT_APPROVAL_LABEL: Final = "cxrecon:approve-over-gate"


def plan_marker(environment: str) -> str:
    return f"<!-- cxrecon-plan:{environment} -->"


@dataclass(frozen=True)
class PlanReport:
    """Everything the comment says about one environment's plan."""

    environment: str
    outcome: PlanOutcome
    plan_markdown: str
    over_gate_approved: bool
    approval_label: str
    commit: str | None
    run_url: str | None
    artifact: str | None


@dataclass(frozen=True)
class Published:
    action: Literal["created", "updated"]
    comment: Comment


def render_comment(report: PlanReport) -> str:
    """The whole comment body: marker, heading, status, gate warning, plan, footer."""
    heading, plan = _split_heading(report.plan_markdown)
    if heading is None or report.outcome is PlanOutcome.ERROR:
        heading = f"## cxrecon plan — {report.environment}"
    parts = [plan_marker(report.environment), heading, f"**{report.outcome.headline}**"]
    warning = _gate_warning(report)
    if warning:
        parts.append(warning)
    if report.outcome is PlanOutcome.ERROR:
        where = f"the [workflow run]({report.run_url})" if report.run_url else "the job's log"
        parts.append(
            f"`cxrecon plan` could not finish for `{report.environment}`. The error is in "
            f"{where} (kept out of this comment so nothing sensitive is posted). Fix it and "
            "push again; this comment is updated in place."
        )
    footer = _footer(report)
    if report.outcome is not PlanOutcome.ERROR:
        plan = plan or "_`cxrecon plan` printed no Markdown._"
        budget = COMMENT_LIMIT - sum(len(p) + 2 for p in [*parts, footer])
        if len(plan) > budget:
            # Never cut rendered Markdown mid-table or mid-<details>: point at the artifact.
            where = f"artifact `{report.artifact}`" if report.artifact else "job summary"
            plan = (
                f"_The rendered plan is {len(plan):,} characters, over GitHub's comment limit. "
                f"Read it in the {where} of the workflow run._"
            )
        parts.append(plan)
    parts.append(footer)
    return "\n\n".join(parts) + "\n"


def publish(gh: GhCli, pull_number: int, environment: str, body: str) -> Published:
    """Edit this environment's sticky comment, or create it when the PR has none yet."""
    existing = find_sticky(gh.list_issue_comments(pull_number), environment)
    if existing is None:
        return Published("created", gh.create_issue_comment(pull_number, body))
    return Published("updated", gh.update_issue_comment(existing.id, body))


def find_sticky(comments: list[Comment], environment: str) -> Comment | None:
    """The oldest comment that starts with this environment's marker.

    Only a comment that *starts* with the marker counts: a person quoting the bot's comment
    (which puts "> " first) must not have their comment overwritten.
    """
    marker = plan_marker(environment)
    for comment in comments:
        if comment.body.lstrip().startswith(marker):
            return comment
    return None


def _split_heading(markdown: str) -> tuple[str | None, str]:
    """The plan's own title line (kept on top, above the status) and the rest."""
    text = markdown.strip()
    first, _, rest = text.partition("\n")
    if first.startswith("#"):
        return first.strip(), rest.strip()
    return None, text


def _gate_warning(report: PlanReport) -> str | None:
    if report.outcome is not PlanOutcome.OVER_GATE:
        return None
    if report.over_gate_approved:
        return (
            "> [!WARNING]\n"
            f"> **Over the safety gate, approved** with the `{report.approval_label}` label. "
            "Merging applies every change below."
        )
    return (
        "> [!CAUTION]\n"
        "> **This plan is over the safety gate**: it updates or deactivates more connectors "
        "than the limits in `cxrecon.yaml` allow, or deactivates an ACTIVE one. The check "
        f"fails until a maintainer adds the `{report.approval_label}` label and re-runs the "
        "failed jobs."
    )


def _footer(report: PlanReport) -> str:
    details = []
    if report.commit:
        details.append(f"commit `{report.commit[:12]}`")
    if report.run_url:
        details.append(f"[workflow run]({report.run_url})")
    if report.artifact and report.outcome is not PlanOutcome.ERROR:
        details.append(f"plan JSON in artifact `{report.artifact}`")
    details.append("updated in place on every push")
    return "<sub>" + " · ".join(details) + "</sub>"
