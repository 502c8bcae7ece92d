"""The "Policy" part of a rendered plan: the `policies:` of cxrecon.yaml the plan breaks,
one line per violation (errors first), for the terminal and for a pull-request comment.
"""

from __future__ import annotations

from typing import Final

from reconciler.celpolicy.evaluate import Violation
from reconciler.plan.changes import Plan
from reconciler.render.escape import markdown, terminal

#: Violations listed in full; the rest are counted (a comment has a size budget).
SHOWN: Final = 50


def ordered(plan: Plan) -> list[Violation]:
    return sorted(plan.violations, key=lambda v: (v.severity != "error", v.connector, v.policy))


def headline(plan: Plan) -> str:
    errors = sum(1 for v in plan.violations if v.severity == "error")
    warnings = len(plan.violations) - errors
    held = " (apply will not write those connectors)" if errors else ""
    return f"Policy: {errors} error(s), {warnings} warning(s){held}"


def text_lines(plan: Plan) -> list[str]:
    """Terminal lines (empty when no policy is broken)."""
    if not plan.violations:
        return []
    lines = ["", terminal(headline(plan) + ":")]
    for v in ordered(plan)[:SHOWN]:
        where = f" ({v.location})" if v.location else ""
        said = f"  - {v.severity}: policy '{v.policy}': {v.connector}{where}: {v.message}"
        lines.append(terminal(said))
    if len(plan.violations) > SHOWN:
        lines.append(f"  … and {len(plan.violations) - SHOWN} more (see --format json)")
    return lines


def markdown_section(plan: Plan) -> list[str]:
    """A "Policy" section of Markdown lines (empty when no policy is broken)."""
    if not plan.violations:
        return []
    out = ["### Policy", "", markdown(headline(plan)), ""]
    out.append("| Severity | Policy | Connector | Where | Message |")
    out.append("|---|---|---|---|---|")
    for v in ordered(plan)[:SHOWN]:
        where = markdown(str(v.location)) if v.location else ""
        cells = (v.severity, markdown(v.policy), markdown(v.connector), where, markdown(v.message))
        out.append("| " + " | ".join(cells) + " |")
    if len(plan.violations) > SHOWN:
        out.append("")
        out.append(f"_… and {len(plan.violations) - SHOWN} more violations._")
    out.append("")
    return out
