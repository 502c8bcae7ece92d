"""The "Setup" part of a rendered plan: each secret the merge's apply needs ("needs
`FRESHDESK_API_KEY` in the production job"), for the terminal and a pull-request comment.
"""

from __future__ import annotations

from typing import Final

from reconciler.plan.changes import Plan
from reconciler.plan.setup import NeededSecret, needed_secrets, where
from reconciler.render.escape import markdown, terminal

#: References listed in full; the rest are counted (a comment has a size budget).
SHOWN: Final = 50


def _what(needed: NeededSecret) -> str:
    """The variable's name, or the whole `${file:PATH}` reference."""
    return needed.name if needed.kind == "env" else needed.reference


def _users(needed: NeededSecret) -> str:
    more = f" and {len(needed.connectors) - 5} more" if len(needed.connectors) > 5 else ""
    return ", ".join(needed.connectors[:5]) + more


def sentence(needed: NeededSecret, environment: str | None) -> str:
    """`needs `NAME` in the production job (Connector-A, Connector-B)`."""
    return f"needs `{_what(needed)}` in {where(environment)} ({_users(needed)})"


def markdown_sentence(needed: NeededSecret, environment: str | None) -> str:
    """`sentence` as inline Markdown, the name as code, every part escaped."""
    return (
        f"needs <code>{markdown(_what(needed))}</code> in {markdown(where(environment))} "
        f"({markdown(_users(needed))})"
    )


def text_lines(plan: Plan) -> list[str]:
    """Terminal lines (empty when the plan writes no credentials from a reference)."""
    needed = needed_secrets(plan)
    if not needed:
        return []
    lines = ["", terminal(f"Setup: the apply resolves {len(needed)} secret reference(s):")]
    lines += [terminal(f"  - {sentence(n, plan.environment)}") for n in needed[:SHOWN]]
    if len(needed) > SHOWN:
        lines.append(f"  … and {len(needed) - SHOWN} more (see --format json)")
    return lines


def markdown_section(plan: Plan) -> list[str]:
    """A "Setup this merge needs" section of Markdown lines (empty when none)."""
    needed = needed_secrets(plan)
    if not needed:
        return []
    out = [
        "### Setup this merge needs",
        "",
        "The apply resolves these secrets: each must be set in "
        f"{markdown(where(plan.environment))} before merging (`cxrecon secrets` lists them).",
        "",
    ]
    out += [f"- {markdown_sentence(n, plan.environment)}" for n in needed[:SHOWN]]
    if len(needed) > SHOWN:
        out.append(f"- _… and {len(needed) - SHOWN} more._")
    out.append("")
    return out
