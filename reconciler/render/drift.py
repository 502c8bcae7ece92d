"""The drift report for people: text for a terminal, Markdown for the body of the GitHub
issue the drift workflow keeps open (within GitHub's size limit), JSON via drift.to_json.
Names, values and server messages are escaped for each (render.escape)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Final

from reconciler.gitops.drift import (
    ConnectorDrift,
    DeletedConnector,
    DriftedField,
    DriftReport,
    DriftStatus,
    to_json,
)
from reconciler.plan.diff import format_value
from reconciler.render.escape import json_text, markdown, terminal

#: The drift workflow adds a marker and two sentences; GitHub allows 65,536 characters.
MARKDOWN_BUDGET: Final = 60_000
_VALUE_LIMIT: Final = 200
_SHORT_VALUE_LIMIT: Final = 40
_NAMES_SHOWN: Final = 20
_COMPACT_STAMP: Final = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$")


def render(report: DriftReport, output_format: str, hint_flags: str = "") -> str:
    """`hint_flags` (e.g. " --emulator") are repeated in the commands the report suggests."""
    if output_format == "json":
        return json_text(json.dumps(to_json(report), indent=2, ensure_ascii=False)) + "\n"
    if output_format == "markdown":
        return render_markdown(report, hint_flags=hint_flags)
    return render_text(report, hint_flags)


def applied_at(value: str | None) -> str:
    """The applied-at label for people (labels cannot hold ':', so it may be compact)."""
    if not value:
        return "not recorded"
    match = _COMPACT_STAMP.match(value)
    if match:
        y, mo, d, h, mi, s = match.groups()
        return f"{y}-{mo}-{d} {h}:{mi}:{s} UTC"
    return value


def _env_flag(report: DriftReport) -> str:
    return f" -e {report.environment}" if report.environment else ""


def _headline(report: DriftReport) -> str:
    where = f" in {report.environment}" if report.environment else ""
    if report.status is DriftStatus.DRIFT:
        parts = []
        if report.connectors:
            parts.append(
                f"{len(report.connectors)} connector(s) changed in CXone since the last apply "
                f"({report.field_count} field(s))"
            )
        if report.deleted:
            parts.append(f"{len(report.deleted)} connector(s) deleted in CXone")
        return f"Drift{where}: {'; '.join(parts)}."
    if report.status is DriftStatus.ERROR:
        return f"Drift{where} could not be checked for every connector."
    return f"No drift{where}: {report.checked} managed connector(s) match their last apply."


def _note(field: DriftedField) -> str:
    if field.server_error:
        return "CXone set ERROR: the connector is failing; fix the cause, then apply retries it"
    if field.origin.value == "conflict":
        return "changed in git too since the last apply: resolve by hand"
    if field.secret:
        return "a secret credential: adopt by rotating in your secret store, never in git"
    if field.parts[:1] == ("authentication",) and (field.git is None or field.cxone is None):
        return "a credential key added or removed: edit the file by hand"
    if field.parts[:1] == ("authentication",) and len(field.parts) < 3:
        return "the authentication type: edit the file (and its secrets) by hand"
    return ""


def _resolution(report: DriftReport, hint_flags: str = "") -> list[str]:
    flag = _env_flag(report) + hint_flags
    lines = [f"revert CXone to git: `cxrecon apply{flag}` (review `cxrecon plan{flag}` first)"]
    if report.connectors:
        lines.append(
            f"or adopt CXone's values into git: `cxrecon drift{flag} --write-back`, then commit "
            "and open a pull request"
        )
    if report.deleted:
        lines.append(
            "to keep a deleted connector deleted, remove its file from git in a pull request"
        )
    return lines


def _deleted_line(d: DeletedConnector) -> str:
    facts = [f"id {d.connector_id}"] if d.connector_id else []
    facts.append(f"last applied {d.last_applied or 'not recorded'}")
    where = f" — {d.file}" if d.file else ""
    return f"- {d.name}{where}: deleted in CXone ({', '.join(facts)}, from the {d.source})"


def _names(names: Sequence[str], escape: Callable[[str], str]) -> str:
    shown = ", ".join(escape(n) for n in names[:_NAMES_SHOWN])
    return shown + (f" and {len(names) - _NAMES_SHOWN} more" if len(names) > _NAMES_SHOWN else "")


def _footnotes(report: DriftReport, escape: Callable[[str], str]) -> list[str]:
    """The footnotes, with names and reasons passed through `escape` (the renderer's own
    words, `code` included, are not)."""
    lines = [f"{escape(u.name)}: not checked: {escape(u.reason)}" for u in report.unchecked]
    if report.pending:
        lines.append(
            f"Changed in git, not applied yet (not drift; see `cxrecon plan`): "
            f"{_names(report.pending, escape)}"
        )
    if report.missing:
        lines.append(
            f"Declared in git, absent from CXone (not applied yet, or deleted or renamed in "
            f"CXone; `cxrecon apply` creates them): {_names(report.missing, escape)}"
        )
    if report.unmanaged:
        lines.append(
            f"Never applied by cxrecon, so there is no last apply to compare with (`cxrecon "
            f"apply` adopts them): {_names(report.unmanaged, escape)}"
        )
    return lines


# --- text -------------------------------------------------------------------------


def render_text(report: DriftReport, hint_flags: str = "") -> str:
    lines = [_headline(report)]
    for c in report.connectors:
        where = f" — {c.file}" if c.file else ""
        lines += [
            "",
            f"~ {c.name} (id {c.connector_id}){where}, last applied {applied_at(c.applied_at)}",
        ]
        for f in c.fields:
            lines.append(
                f"    {f.path}: git {format_value(f.git, _VALUE_LIMIT)} → CXone "
                f"{format_value(f.cxone, _VALUE_LIMIT)}  [{f.origin.value}]"
            )
            note = _note(f)
            if note:
                lines.append(f"      ({note})")
    if report.deleted:
        lines += ["", "Deleted in CXone:", *(_deleted_line(d) for d in report.deleted)]
    # Names, values and file names are the repository's or the tenant's: no raw control
    # characters (a forged `::error` line, a terminal sequence) on a terminal or in a log.
    lines = [terminal(line) for line in lines]
    footnotes = _footnotes(report, terminal)
    if footnotes:
        lines += ["", *footnotes]
    if report.connectors or report.deleted:
        lines += ["", "To resolve:"] + [f"  - {line}" for line in _resolution(report, hint_flags)]
    return "\n".join(lines) + "\n"


# --- Markdown -----------------------------------------------------------------------


def _cell(text: str) -> str:
    return markdown(text)


def _code(text: str) -> str:
    return "<code>" + _cell(text) + "</code>"


def render_markdown(
    report: DriftReport, budget: int = MARKDOWN_BUDGET, hint_flags: str = ""
) -> str:
    """An issue body: the summary, one section per drifted connector, how to resolve it.
    Over `budget`, values are shortened, then sections dropped, and the body says so."""
    full = [_section(c, _VALUE_LIMIT) for c in report.connectors]
    text = _frame(report, hint_flags, full, "")
    if len(text) <= budget:
        return text
    short = [_section(c, _SHORT_VALUE_LIMIT) for c in report.connectors]
    text = _frame(
        report, hint_flags, short, "_Values are shortened to fit GitHub's size limit._\n\n"
    )
    if len(text) <= budget:
        return text
    kept: list[str] = []
    base = len(_frame(report, hint_flags, [], _cut_note(len(short))))
    for section in short:
        if base + sum(map(len, kept)) + len(section) > budget:
            break
        kept.append(section)
    note = _cut_note(len(short) - len(kept))
    return _frame(report, hint_flags, kept, note)


def _cut_note(dropped: int) -> str:
    return (
        f"_{dropped} connector section(s) left out to fit GitHub's size limit; run "
        "`cxrecon drift` to see all of them._\n\n"
    )


def _frame(report: DriftReport, hint_flags: str, sections: list[str], note: str) -> str:
    env = f" `{report.environment}`" if report.environment else ""
    out = [f"## cxrecon drift{env}\n\n", f"**{_headline(report)}**\n\n"]
    if report.connectors:
        out.append("| Connector | Fields | Last applied | File |\n|---|---|---|---|\n")
        for c in report.connectors:
            out.append(
                f"| {_code(c.name)} | {len(c.fields)} | {_cell(applied_at(c.applied_at))} | "
                f"{_code(c.file) if c.file else '—'} |\n"
            )
        out.append("\n")
    if report.deleted:
        out.append("### Deleted in CXone\n\n")
        out += [f"- {_cell(_deleted_line(d).removeprefix('- '))}\n" for d in report.deleted]
        out.append("\n")
    out.append(note)
    out.extend(sections)
    if report.connectors or report.deleted:
        out.append("### How to resolve\n\n")
        out += [f"- {line[0].upper()}{line[1:]}.\n" for line in _resolution(report, hint_flags)]
        out.append(
            "- Fields marked _conflict_ changed in git as well: edit the file by hand. "
            "Credentials are never written to git: rotate them in your secret store.\n\n"
        )
    footnotes = _footnotes(report, _cell)
    if footnotes:
        out.append("<details><summary>Also noticed</summary>\n\n")
        out += [f"- {line}\n" for line in footnotes]
        out.append("\n</details>\n")
    return "".join(out)


def _section(c: ConnectorDrift, limit: int) -> str:
    meta = [f"id {_code(c.connector_id)}", f"last applied {_cell(applied_at(c.applied_at))}"]
    rows = [
        f"### {_code(c.name)}\n\n",
        " · ".join(meta) + "\n\n",
        "| Field | In git | In CXone | Note |\n|---|---|---|---|\n",
    ]
    for f in c.fields:
        where = f" ({_cell(str(f.location))})" if f.location else ""
        note = _note(f) or f.origin.value
        rows.append(
            f"| {_code(f.path)}{where} | {_code(format_value(f.git, limit))} | "
            f"{_code(format_value(f.cxone, limit))} | {_cell(note)} |\n"
        )
    rows.append("\n")
    return "".join(rows)
