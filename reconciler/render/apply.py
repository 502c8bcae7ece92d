"""What `cxrecon apply` prints: one line per connector as it finishes, and the end-of-run
table of applied, failed and skipped connectors, warnings and CRM data syncs. Names and
reasons (often the server's words) are escaped for a terminal and job log."""

from __future__ import annotations

from reconciler.apply.results import ConnectorResult, Outcome
from reconciler.apply.run import ApplyReport
from reconciler.plan.reviewed import Review, credentials_note
from reconciler.render.escape import terminal


def result_line(result: ConnectorResult) -> str:
    """One progress line as a connector finishes."""
    mark = {"applied": "+", "failed": "!", "skipped": "-", "unchanged": "=", "in_line": "="}
    detail = _detail(result)
    said = _said(result.outcome)
    return terminal(f"{mark[result.outcome]} {result.name}: {said} ({result.action.value}){detail}")


def _said(outcome: Outcome) -> str:
    return IN_LINE_WORDS if outcome is Outcome.IN_LINE else outcome.value


#: A connector another run (a concurrent apply, the controller) had already brought in line:
#: this run wrote nothing for it, so it is not counted as applied.
IN_LINE_WORDS = "already in line (by another writer)"


def _detail(result: ConnectorResult) -> str:
    if result.outcome is Outcome.APPLIED:
        parts = [f"{result.writes} write{'s' if result.writes != 1 else ''}"]
        if result.lifecycle:
            parts.append(result.lifecycle)
        if result.replans:
            parts.append(f"re-planned {result.replans}x after concurrent changes")
        return ", " + ", ".join(parts)
    return f": {result.reason}" if result.reason else ""


def render_report(report: ApplyReport) -> str:
    """The end-of-run table: applied, failed (why) and skipped connectors, then syncs."""
    counts = report.outcome_counts()
    in_line = f"{counts['in_line']} {IN_LINE_WORDS}, " if counts["in_line"] else ""
    head = (
        f"Apply finished: {counts['applied']} applied, {in_line}{counts['failed']} failed, "
        f"{counts['skipped']} skipped, {counts['unchanged']} unchanged "
        f"({report.writes} write{'' if report.writes == 1 else 's'})."
    )
    lines = [head]
    quiet = (Outcome.UNCHANGED, Outcome.IN_LINE)
    listed = [r for r in report.results if r.outcome not in quiet]
    if listed:
        width = min(max(len(r.name) for r in listed), 48)
        lines.append("")
        lines.append(f"  {'RESULT':<8} {'CONNECTOR':<{width}} {'ACTION':<10} {'WRITES':>6}  DETAIL")
        order = {Outcome.FAILED: 0, Outcome.APPLIED: 1, Outcome.SKIPPED: 2}
        for r in sorted(listed, key=lambda r: (order.get(r.outcome, 3), r.name)):
            if r.outcome is Outcome.APPLIED:
                detail = r.lifecycle or ""
                if r.connector_id:
                    detail += f" (id {r.connector_id})"
                if r.replans:
                    detail += f"; re-planned {r.replans}x after concurrent changes"
            else:
                detail = r.reason or ""
            lines.append(
                f"  {r.outcome.value:<8} {r.name:<{width}} {r.action.value:<10} "
                f"{r.writes:>6}  {detail}"
            )
    if report.warnings:
        lines.append("")
        lines.append(f"Warnings ({len(report.warnings)}):")
        lines.extend(f"  {r.name}: {r.warning}" for r in report.warnings)
    if report.syncs:
        lines.append("")
        done = sum(1 for s in report.syncs if s.ok)
        lines.append(f"CRM data syncs: {done} of {len(report.syncs)} completed.")
        lines.extend(f"  {s.describe()}" for s in report.syncs if not s.ok)
    if counts["failed"]:
        lines.append("")
        lines.append(
            "Fix what the DETAIL column says and run apply again: it re-reads the tenant and "
            "sends only what is still missing."
        )
    return "\n".join(terminal(line) for line in lines)


def review_text(review: Review) -> str:
    """A fresh plan held against the reviewed one, a line per connector."""
    lines = [
        f"Compared with the reviewed plan: {len(review.as_reviewed)} as reviewed (applied), "
        f"{len(review.held)} not reviewed (held, not applied), {len(review.dropped)} no "
        "longer needed."
    ]
    lines += [
        terminal(f"  = {c.name}: {c.action.value}, as reviewed{credentials_note(c)}")
        for c in review.as_reviewed
    ]
    lines += [f"  ! {terminal(h.change.name)}: {terminal(h.reason)}" for h in review.held]
    lines += [f"  - {terminal(name)}: reviewed, no longer needed" for name in review.dropped]
    lines += [
        terminal(f"  ~ {left.name}: changed in CXone since the review, left as it is (drift): ")
        + terminal(", ".join(left.paths))
        for left in review.left
    ]
    return "\n".join(lines)
