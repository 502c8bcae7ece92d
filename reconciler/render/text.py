"""The plan for a terminal: a summary line, then each connector's action and field changes.

Colored on a TTY unless NO_COLOR is set (FORCE_COLOR forces it); secrets masked by path;
every line's text escaped for a terminal and job log (render.escape) before colours go on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final, TextIO

from reconciler.plan.changes import Action, ConnectorChange, Plan
from reconciler.plan.diff import ChangeKind, format_value, safe_values
from reconciler.plan.document import summary_line
from reconciler.render import policy, setup
from reconciler.render.common import (
    SYMBOLS,
    create_details,
    credentials_line,
    headline,
    source_note,
)
from reconciler.render.escape import terminal

_COLORS: Final = {
    Action.ERROR: "31;1",
    Action.CREATE: "32",
    Action.RENAME: "33",
    Action.ADOPT: "36",
    Action.UPDATE: "33",
    Action.ACTIVATE: "32",
    Action.DEACTIVATE: "35",
    Action.ORPHAN: "2",
    Action.OBSERVE: "2",
    Action.NOOP: "2",
}
_KIND_SYMBOLS: Final = {ChangeKind.ADDED: "+", ChangeKind.REMOVED: "-", ChangeKind.CHANGED: "~"}


def use_color(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """no-color.org: NO_COLOR (any value) wins; FORCE_COLOR forces; else only on a TTY."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class TextRenderer:
    """`render(plan)`; `show_unchanged` also lists no-op connectors."""

    def __init__(self, color: bool = False, show_unchanged: bool = False) -> None:
        self.color = color
        self.show_unchanged = show_unchanged

    def _paint(self, code: str, text: str) -> str:
        """`text` escaped, then coloured: the only escape sequences are the renderer's."""
        shown = terminal(text)
        return f"\x1b[{code}m{shown}\x1b[0m" if self.color else shown

    def render(self, plan: Plan) -> str:
        first = summary_line(plan)
        if plan.environment:
            first += f" (environment: {plan.environment})"
        lines = [terminal(first)]
        if plan.safety.over:
            lines.append(self._paint("31;1", "Safety gate: OVER — apply will ask to confirm:"))
            lines.extend(terminal(f"  - {reason}") for reason in plan.safety.reasons)
        lines.extend(policy.text_lines(plan))
        lines.extend(setup.text_lines(plan))
        if plan.ignored:
            lines.append(
                f"{plan.ignored} connector(s) in CXone neither declared nor managed: left alone."
            )
        for change in plan.changes:
            if change.action is Action.NOOP and not self.show_unchanged:
                continue
            lines.append("")
            lines.extend(self._change(change))
        return "\n".join(lines) + "\n"

    def _change(self, change: ConnectorChange) -> list[str]:
        color = _COLORS[change.action]
        lines = [self._paint(color, f"{SYMBOLS[change.action]} {headline(change)}")]
        for problem in change.problems:
            lines.append(self._paint("31", f"    error: {problem}"))
        # A create lists every value it sets (`+` lines); any other change its differences.
        for field in create_details(change):
            before, after = safe_values(field)
            symbol = _KIND_SYMBOLS[field.kind]
            if field.kind is ChangeKind.ADDED:
                text = f"{field.path}: {format_value(after)}"
            elif field.kind is ChangeKind.REMOVED:
                text = f"{field.path}: {format_value(before)} → (removed)"
            else:
                text = f"{field.path}: {format_value(before)} → {format_value(after)}"
            text = terminal(text)
            if field.origin is not None and change.action is not Action.ADOPT:
                text += self._paint("2", f"  ({field.origin.value})")
            if change.from_override(field):
                text += self._paint("2", "  (override)")
            source = source_note(change, field)
            if source is not None:
                text += self._paint("2", f"  ({source})")
            lines.append(f"    {symbol} {text}")
        creds = credentials_line(change)
        if creds is not None and (change.action is not Action.NOOP or self.show_unchanged):
            lines.append(terminal(f"      {creds}"))
        for note in (change.deleted_note, change.orphan_note, change.note):
            if note is not None:
                lines.append(f"    {note}")
        return lines


def render(plan: Plan, color: bool = False) -> str:
    return TextRenderer(color=color).render(plan)
