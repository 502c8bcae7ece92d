"""The plan as Markdown for a pull-request comment and the GitHub job summary.

A summary table first, then one collapsible section per connector, within a size
budget: when too long, detail goes least-important first (no-op/orphan sections, field
values, the field lists of new connectors, then whole sections) and the comment says what
was left out. Every piece of text
that is not the renderer's own markup goes through render.escape.markdown.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from reconciler.plan.changes import Action, ConnectorChange, Plan
from reconciler.plan.diff import ChangeKind, FieldChange, format_value, safe_values
from reconciler.plan.document import summary_line
from reconciler.render import policy, setup
from reconciler.render.common import (
    SYMBOLS,
    create_details,
    credentials_line,
    headline,
    source_note,
    written_from,
)
from reconciler.render.escape import markdown
from reconciler.safefs import append_whole

#: GitHub refuses comments over 65,536 characters; keep a margin.
DEFAULT_BUDGET: Final = 60_000
_VALUE_LIMIT_FULL: Final = 200
_VALUE_LIMIT_SHORT: Final = 40


def _cell(text: str) -> str:
    """Inline text safe inside a table cell and inside <details>: no HTML, no code spans
    or links, no pipes, one line, control characters shown as escapes."""
    return markdown(text)


def _code(text: str) -> str:
    return "<code>" + _cell(text) + "</code>"


class MarkdownRenderer:
    """`render(plan)` returns a comment no longer than `budget` characters."""

    def __init__(self, budget: int = DEFAULT_BUDGET, title: str = "cxrecon plan") -> None:
        self.budget = budget
        self.title = title

    def render(self, plan: Plan) -> str:
        # Levels of detail, from all to least; the first that fits is used.
        shown = [c for c in plan.changes if c.action is not Action.NOOP]
        important = [c for c in shown if c.action is not Action.ORPHAN]
        full = {id(c): self._section(c, _VALUE_LIMIT_FULL) for c in shown}
        for sections, limit in ((shown, _VALUE_LIMIT_FULL), (important, _VALUE_LIMIT_FULL)):
            note = self._note(len(shown) - len(sections), limit)
            text = self._header(plan, note) + "".join(full[id(c)] for c in sections)
            if len(text) <= self.budget:
                return text
        short = [self._section(c, _VALUE_LIMIT_SHORT) for c in important]
        text = self._header(plan, self._note(len(shown) - len(important), _VALUE_LIMIT_SHORT))
        if len(text) + sum(map(len, short)) <= self.budget:
            return text + "".join(short)
        creates = any(c.action is Action.CREATE for c in important)
        if creates:
            # New connectors' `+` lines go before whole sections do: their files are in git.
            short = [self._section(c, _VALUE_LIMIT_SHORT, created=False) for c in important]
            note = self._note(len(shown) - len(important), _VALUE_LIMIT_SHORT, created=False)
            text = self._header(plan, note)
            if len(text) + sum(map(len, short)) <= self.budget:
                return text + "".join(short)
        return self._trimmed(plan, short, len(shown))

    def _note(self, dropped_sections: int, limit: int, created: bool = True) -> str:
        notes = []
        if dropped_sections:
            notes.append(f"{dropped_sections} orphan section(s) left out")
        if limit < _VALUE_LIMIT_FULL:
            notes.append(f"values shortened to {limit} characters")
        if not created:
            notes.append("new connectors' fields left out (each one's file is named)")
        return "; ".join(notes)

    def _trimmed(self, plan: Plan, sections: list[str], total: int) -> str:
        """Keep as many sections as fit, most important first (the plan is sorted so)."""
        # The note's length barely depends on the count; reserve room for its longest form.
        header = self._header(plan, self._cut_note(total))
        room = self.budget - len(header) - 20
        kept, used = 0, 0
        while kept < len(sections) and used + len(sections[kept]) <= room:
            used += len(sections[kept])
            kept += 1
        text = self._header(plan, self._cut_note(total - kept)) + "".join(sections[:kept])
        if len(text) > self.budget:  # even the table alone is too long: cut at a line
            cut = text[: self.budget - 200].rsplit("\n", 1)[0]
            text = (
                cut + "\n\n_…plan truncated to fit the comment size limit; run `cxrecon plan`._\n"
            )
        return text

    @staticmethod
    def _cut_note(dropped: int) -> str:
        return (
            f"{dropped} connector section(s) left out and values shortened to fit the "
            "comment size limit; run `cxrecon plan` or download the JSON plan for all of it"
        )

    def _header(self, plan: Plan, note: str) -> str:
        environment = f" — {_cell(plan.environment)}" if plan.environment else ""
        out = [f"## {self.title}{environment}"]
        out.append("")
        # Which repository's identity the plan is for (a project id needs no escaping).
        out.append(f"Project: `{plan.project}`" if plan.project else "Project: not set")
        out.append("")
        out.append(_cell(summary_line(plan)))
        out.append("")
        out.append("| Action | Count |")
        out.append("|---|---:|")
        for action in Action:
            if plan.summary[action]:
                out.append(f"| {SYMBOLS[action]} {action.value} | {plan.summary[action]} |")
        out.append("")
        if plan.safety.over:
            out.append("> [!WARNING]")
            out.append("> **Safety gate: over** — apply will ask for confirmation:")
            out.extend(f"> - {_cell(reason)}" for reason in plan.safety.reasons)
            out.append("")
        out.extend(policy.markdown_section(plan))
        out.extend(setup.markdown_section(plan))
        if plan.deleted:
            names = ", ".join(c.name for c in plan.deleted[:10])
            more = f" and {len(plan.deleted) - 10} more" if len(plan.deleted) > 10 else ""
            out.append("> [!IMPORTANT]")
            out.append(
                f"> **Deleted in CXone** — cxrecon applied these before; apply re-creates them: "
                f"{_cell(names + more)}"
            )
            out.append("")
        if note:
            out.append(f"_Note: {note}._")  # the renderer's own words (with `code`)
            out.append("")
        return "\n".join(out) + "\n"

    def _section(self, change: ConnectorChange, limit: int, created: bool = True) -> str:
        """One connector; `created` False leaves out a create's field list (the budget)."""
        summary = _cell(f"{SYMBOLS[change.action]} {headline(change)}")
        fields = create_details(change)
        count = f" — {len(fields)} field(s)" if fields else ""
        body: list[str] = []
        body.extend(f"- ❗ {_cell(problem)}" for problem in change.problems)
        if change.deleted_note is not None:
            body.append(f"- ⚠️ {_cell(change.deleted_note)}")
        if change.action is Action.CREATE:
            body.extend(self._created(change, fields, limit, created))
        elif change.fields:
            body.append("")
            body.append("| Field | Before | After | Origin |")
            body.append("|---|---|---|---|")
            for field in change.fields:
                before, after = safe_values(field)
                shown_before = "" if field.kind is ChangeKind.ADDED else format_value(before, limit)
                shown_after = "" if field.kind is ChangeKind.REMOVED else format_value(after, limit)
                origin = field.origin.value if field.origin else ""
                body.append(
                    f"| {_code(field.path)} | {_code(shown_before) if shown_before else '—'} "
                    f"| {_code(shown_after) if shown_after else '—'}"
                    f"{_source(change, field)} | {origin} |"
                )
        creds = credentials_line(change)
        if creds is not None:
            body.append("")
            body.append(f"- {_cell(creds)}")
        for note in (change.orphan_note, change.note):
            if note is not None:
                body.append(f"- {_cell(note)}")
        lines = [f"<details><summary>{summary}{_cell(count)}</summary>", "", *body, ""]
        return "\n".join([*lines, "</details>", "", ""])

    @staticmethod
    def _created(
        change: ConnectorChange, fields: tuple[FieldChange, ...], limit: int, created: bool
    ) -> list[str]:
        """A new connector: a table of every value it sets, or, to fit the budget, how
        many and where its file is (and where its credentials come from)."""
        if not created:
            where = str(change.desired.source) if change.desired is not None else "git"
            lines = [f"- {len(fields)} field(s) to set; see {_code(where)}"]
            sources = written_from(change)
            if sources:
                lines.append(f"- {_cell(f'credentials written from {sources}')}")
            return lines
        lines = ["| Field | Value |", "|---|---|"]
        for field in fields:
            _, after = safe_values(field)
            value = _code(format_value(after, limit))
            lines.append(f"| {_code(field.path)} | {value}{_source(change, field)} |")
        return lines


def _source(change: ConnectorChange, field: FieldChange) -> str:
    """` from <code>${env:NAME}</code>` after a credential's masked value."""
    note = source_note(change, field)
    if note is None:
        return ""
    if note.startswith("from "):
        return f" from {_code(note[len('from ') :])}"
    return f" ({_cell(note)})"


def render(plan: Plan, budget: int = DEFAULT_BUDGET) -> str:
    return MarkdownRenderer(budget=budget).render(plan)


def write_job_summary(plan: Plan, environ: Mapping[str, str] | None = None) -> Path | None:
    """Append the Markdown plan to $GITHUB_STEP_SUMMARY when running in GitHub Actions."""
    env = os.environ if environ is None else environ
    target = env.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    # GitHub caps a step summary at 1 MiB; the comment budget keeps it well under.
    append_whole(path, (render(plan) + "\n").encode("utf-8"), what="job summary")
    return path
