"""`cxrecon github …`: the steps of the plan, apply and drift workflows that talk to GitHub
(sticky plan comment, drift issue, job summaries). Hidden from `--help`: CI plumbing."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from reconciler.errors import CxreconError, GitHubContextError
from reconciler.github.actions import (
    ENVIRONMENT_NAME,
    ActionsContext,
    annotation,
    append_summary,
    read_pull_request,
    write_outputs,
)
from reconciler.github.drift_issue import DEFAULT_LABEL, DriftReport, reconcile_issue
from reconciler.github.gh import GhCli
from reconciler.github.outcome import ApplyOutcome, DriftOutcome, PlanOutcome
from reconciler.github.plan_comment import (
    DEFAULT_APPROVAL_LABEL,
    PlanReport,
    publish,
    render_comment,
)
from reconciler.github.reviewed_plan import find_reviewed_plan
from reconciler.render.escape import markdown, terminal

F = TypeVar("F", bound=Callable[..., Any])


def _environment_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not ENVIRONMENT_NAME.fullmatch(value):
        raise click.BadParameter(
            f"{value!r} is not an environment name (letters, digits, '.', '_', '-'; "
            "at most 64 characters)."
        )
    return value


def _environment_option(help: str) -> Callable[[F], F]:
    """`-e/--environment NAME`, required and checked as a GitHub environment name."""
    return click.option("-e", "--environment", required=True, callback=_environment_name, help=help)


def _options(func: F) -> F:
    func = click.option(
        "--exit-code",
        type=int,
        required=True,
        help="The exit code of the cxrecon command this step reports on.",
    )(func)
    return _environment_option("The cxrecon environment (also used in markers and titles).")(func)


@click.group(hidden=True)
def github() -> None:
    """Report cxrecon results to GitHub from a workflow (uses the `gh` CLI and GH_TOKEN)."""


@github.command("plan-comment")
@_options
@click.option(
    "--plan-markdown",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The Markdown `cxrecon plan --format markdown` printed.",
)
@click.option("--artifact", help="Name of the artifact holding the plan JSON (for the footer).")
@click.option(
    "--approval-label",
    default=DEFAULT_APPROVAL_LABEL,
    show_default=True,
    help="PR label that accepts a plan over the safety gate.",
)
def plan_comment(
    environment: str,
    exit_code: int,
    plan_markdown: Path | None,
    artifact: str | None,
    approval_label: str,
) -> None:
    """Create or update this environment's sticky plan comment on the pull request.

    Exits 1 when the plan failed, or when it is over the safety gate and the pull request
    lacks the approval label; 0 otherwise.
    """
    try:
        context = ActionsContext.from_environ(os.environ)
        pull = read_pull_request(context)
        gh = GhCli(context.repository)
        outcome = PlanOutcome.from_exit_code(exit_code)
        approved = outcome is PlanOutcome.OVER_GATE and approval_label in gh.pull_request_labels(
            pull.number
        )
        report = PlanReport(
            environment=environment,
            outcome=outcome,
            plan_markdown=_read_optional(plan_markdown),
            over_gate_approved=approved,
            approval_label=approval_label,
            commit=pull.head_sha or context.sha,
            run_url=context.run_url,
            artifact=artifact,
        )
        published = publish(gh, pull.number, environment, render_comment(report))
    except CxreconError as exc:
        _fail(f"plan comment for {environment}: {exc}")
    url = published.comment.url
    write_outputs(
        context,
        {"outcome": outcome.value, "comment-id": str(published.comment.id), "comment-url": url},
    )
    append_summary(context, f"**cxrecon plan · `{environment}`:** {outcome.headline} ({url})")
    click.echo(f"{published.action.capitalize()} the plan comment for {environment}: {url}")
    if outcome is PlanOutcome.OVER_GATE:
        level = "warning" if approved else "error"
        detail = f"approved by the {approval_label!r} label" if approved else "not approved"
        _announce(level, f"The {environment} plan is over the safety gate ({detail}).")
    elif outcome is PlanOutcome.ERROR:
        _announce("error", f"cxrecon plan failed for {environment} (exit code {exit_code}).")
    if outcome.fails_job(over_gate_approved=approved):
        raise SystemExit(1)


@github.command("drift-issue")
@_options
@click.option(
    "--drift-markdown",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The Markdown `cxrecon drift --format markdown` printed (the issue body).",
)
@click.option("--label", default=DEFAULT_LABEL, show_default=True, help="Label of drift issues.")
def drift_issue(environment: str, exit_code: int, drift_markdown: Path | None, label: str) -> None:
    """Open, update or close this environment's drift issue.

    Exits 1 only when the drift check itself failed (the issue is then left unchanged).
    """
    outcome = DriftOutcome.from_exit_code(exit_code)
    try:
        context = ActionsContext.from_environ(os.environ)
        report = DriftReport(
            environment=environment,
            outcome=outcome,
            drift_markdown=_read_optional(drift_markdown),
            checked_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            run_url=context.run_url,
            label=label,
        )
        result = reconcile_issue(GhCli(context.repository), report)
    except CxreconError as exc:
        _fail(f"drift issue for {environment}: {exc}")
    issue = result.issues[0] if result.issues else None
    write_outputs(
        context,
        {
            "outcome": outcome.value,
            "issue-action": result.action,
            "issue-number": str(issue.number) if issue else "",
            "issue-url": issue.url if issue else "",
        },
    )
    where = f" (#{issue.number}, {result.action})" if issue else ""
    line = {
        DriftOutcome.IN_SYNC: f"`{environment}` is in sync with git{where}.",
        DriftOutcome.DRIFT: f"`{environment}` has drifted from git{where}.",
        DriftOutcome.ERROR: f"the drift check failed for `{environment}` (exit code {exit_code}); "
        "its issue was left unchanged.",
    }[outcome]
    append_summary(context, f"**cxrecon drift:** {line}")
    click.echo(line.replace("`", ""))
    if outcome is DriftOutcome.DRIFT and issue:
        _announce("warning", f"Drift in {environment}: {issue.url}")
    if outcome.fails_job:
        _announce("error", line.replace("`", ""))
        raise SystemExit(1)


@github.command("apply-summary")
@_options
@click.option(
    "--audit-log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The audit log `cxrecon apply --audit-log` wrote (records are counted).",
)
@click.option("--artifact", help="Name of the artifact holding the audit log.")
def apply_summary(
    environment: str, exit_code: int, audit_log: Path | None, artifact: str | None
) -> None:
    """Write the apply result to the job summary; exit 1 if the apply failed."""
    outcome = ApplyOutcome.from_exit_code(exit_code)
    try:
        context = ActionsContext.from_environ(os.environ)
    except CxreconError as exc:
        _fail(f"apply summary for {environment}: {exc}")
    records = _count_records(audit_log)
    headline = {
        ApplyOutcome.APPLIED: f"✅ Applied to `{environment}`.",
        ApplyOutcome.FAILED: f"❌ Apply to `{environment}` failed (exit code {exit_code}): "
        "see the step's log; running the workflow again converges.",
    }[outcome]
    lines = [f"### cxrecon apply · `{environment}`", f"**{headline}**"]
    if context.sha:
        lines.append(f"- commit `{context.sha[:12]}`")
    if records is not None:
        kept = f" (artifact `{artifact}`)" if artifact else ""
        lines.append(f"- audit log: {records} record{'s' if records != 1 else ''}{kept}")
    append_summary(context, "\n".join(lines))
    write_outputs(context, {"outcome": outcome.value, "audit-records": str(records or 0)})
    click.echo(headline.replace("`", ""))
    if outcome.fails_job:
        _announce("error", headline.replace("`", ""))
        raise SystemExit(1)


@github.command("reviewed-plan")
@_environment_option("The cxrecon environment whose reviewed plan to fetch.")
@click.option(
    "--plan-workflow",
    default="plan.yml",
    show_default=True,
    help="File name of the workflow that plans pull requests and uploads the plans.",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reviewed"),
    show_default=True,
    help="Where to put the downloaded plan.",
)
def reviewed_plan(environment: str, plan_workflow: str, directory: Path) -> None:
    """Fetch the plan reviewed for the merge that made this commit (outputs `plan-file`,
    empty when there is none: then the apply plans afresh and the safety gate holds)."""
    try:
        context = ActionsContext.from_environ(os.environ)
        if not context.sha:
            raise GitHubContextError("GITHUB_SHA is not set: run this inside a workflow job")
        found = find_reviewed_plan(
            GhCli(context.repository),
            sha=context.sha,
            event=context.event_name,
            environment=environment,
            workflow=plan_workflow,
            directory=directory,
        )
    except CxreconError as exc:
        _fail(f"reviewed plan for {environment}: {exc}")
    why_md, why_text = markdown(found.why), terminal(found.why)
    if found.unusable:
        # A merged pull request's plan exists but cannot be used: fail rather than apply a
        # plan nobody reviewed.
        append_summary(
            context,
            f"**cxrecon:** the reviewed plan for `{environment}` cannot be used: {why_md}. "
            "Re-run the plan job of the pull request, or run the apply workflow by hand (it "
            "plans afresh with the safety gate).",
        )
        _fail(
            f"the reviewed plan for {environment} cannot be used: {why_text}. Re-run the pull "
            "request's plan job, or run the apply workflow by hand"
        )
    write_outputs(
        context,
        {
            "plan-file": str(found.path) if found.path else "",
            "pull-request": str(found.pull_request or ""),
        },
    )
    if found.path is not None:
        append_summary(context, f"**cxrecon:** Applying {why_md} to `{environment}`.")
        click.echo(f"Applying {why_text} to {environment}.")
        return
    append_summary(
        context,
        f"**cxrecon:** No reviewed plan for `{environment}` ({why_md}): planning afresh; the "
        "safety gate holds.",
    )
    line = f"No reviewed plan for {environment} ({why_text}): planning afresh; the safety "
    line += "gate holds."
    click.echo(line)
    if found.pull_request is not None:
        _announce("warning", line)


@github.command("audit-history")
@_environment_option("The cxrecon environment whose audit history to fetch.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The audit log to write (empty when no apply kept one yet).",
)
def audit_history(environment: str, out: Path) -> None:
    """Fetch what earlier applies recorded (the `cxrecon-audit-<env>` artifacts of this
    branch), for `--audit-log`: drift sees connectors deleted in CXone only with it."""
    from reconciler.github.audit_history import artifact_name, fetch_history

    try:
        context = ActionsContext.from_environ(os.environ)
        branch = os.environ.get("GITHUB_REF_NAME", "")
        if not branch:
            raise GitHubContextError("GITHUB_REF_NAME is not set: run this inside a workflow job")
        found = fetch_history(
            GhCli(context.repository), environment=environment, branch=branch, out=out
        )
    except CxreconError as exc:
        _fail(f"audit history for {environment}: {exc}")
    if not found.runs:
        line = (
            f"No audit history for {environment} yet (no `{artifact_name(environment)}` "
            f"artifact on {branch}): a connector deleted in CXone cannot be seen until an "
            "apply keeps one."
        )
        click.echo(line)
        _announce("warning", line)
        return
    click.echo(
        f"Audit history for {environment}: {found.records} record(s) from "
        f"{len(found.runs)} run(s), in {out}."
    )


def _read_optional(path: Path | None) -> str:
    if path is None or not path.is_file():
        return ""
    return path.read_text(encoding="utf-8", errors="replace")


def _count_records(path: Path | None) -> int | None:
    """The records of what happened: every line but a write's intent (the write-ahead log
    writes one before each write, then the outcome, so counting lines counted writes twice)
    and lines that do not parse (a torn last line)."""
    if path is None or not path.is_file():
        return None
    count = 0
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("event") != "intent":
                count += 1
    return count


def _announce(level: str, message: str) -> None:
    """A workflow annotation inside Actions; a plain line on stderr elsewhere."""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        click.echo(annotation("error" if level == "error" else "warning", message))
    else:
        click.echo(f"{level}: {message}", err=True)


def _fail(message: str) -> NoReturn:
    _announce("error", message)
    raise SystemExit(1)
