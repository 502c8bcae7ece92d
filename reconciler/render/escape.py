"""Escaping for where text is written: a terminal or CI job log, a GitHub workflow command,
Markdown (plan comments, job summaries, drift issues), a JSON document shown to people.

Values, file names and server messages are chosen by whoever writes a connector file, opens
a pull request or runs the tenant; written raw, a newline forges a `::error` workflow
command in the job log, ESC sequences retitle or repaint a terminal, bidi overrides reorder
what a reviewer reads. Each function makes user-controlled text inert for its medium and
visible as what it is (`\\x1b`, `\\n`, `\\u202e`); text cxrecon writes itself (markup,
colours) is added around the escaped text, never passed through it.
"""

from __future__ import annotations

import re
from typing import Final

#: C0 controls (TAB, LF, CR and ESC included), DEL, C1 controls (8-bit CSI, NEL, OSC …),
#: the Unicode line and paragraph separators, and the bidi controls of "Trojan Source"
#: (ALM, LRM, RLM, LRE…RLO, LRI…PDI), which make text read differently than it is.
_UNSAFE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
#: The same, minus CR and LF (workflow command data escapes those its own way).
_UNSAFE_BUT_NEWLINES: Final = re.compile(
    "[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
#: What json.dumps leaves raw inside strings (it escapes C0 controls itself; the C0 left in
#: its output are the indentation's line breaks).
_UNSAFE_IN_JSON: Final = re.compile(
    "[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_NAMED: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: What starts a workflow command on a log line (after leading white space): `::name …::`
#: and the older `##[name …]` form.
_COMMAND_START: Final = re.compile(r"^(\s*)(::|##\[)")
_MARKDOWN: Final = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "`": "&#96;",
    "\\": "&#92;",
    "](": "]&#40;",
    "|": "\\|",
}
#: An `@` that GitHub would read as a mention (`@user`, `@org/team`): a zero-width space
#: after it keeps the text as it reads and notifies nobody.
_MENTION: Final = re.compile(r"@(?=[A-Za-z0-9])")
#: `](` is what makes brackets a link or an image (`[text](url)`, `![alt](src)`); reference
#: definitions (`[ref]: url`) must start a line, which escaped text never does.
_MARKDOWN_SPECIAL: Final = re.compile(r"[&<>`\\|]|\]\(")


def visible(char: str) -> str:
    """One unsafe character as the escape a reader recognises: `\\n`, `\\x1b`, `\\u202e`."""
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _visible(match: re.Match[str]) -> str:
    return visible(match.group())


def terminal(text: str) -> str:
    """One line for a terminal or a CI job log: every unsafe character shown as an escape,
    and a line that would start a workflow command (`::`, `##[`) defused by escaping its
    first character (`\\x3a:error…`)."""
    escaped = _UNSAFE.sub(_visible, text)
    if "::" not in escaped and "##[" not in escaped:
        return escaped  # nothing that could start a command (most lines): no second pass
    return _COMMAND_START.sub(
        lambda m: m.group(1) + visible(m.group(2)[0]) + m.group(2)[1:], escaped
    )


def terminal_lines(text: str) -> str:
    """Several lines (split at LF; CR LF too) for a terminal or job log, each escaped as by
    `terminal`: for messages cxrecon composes over several lines around user-controlled
    parts."""
    return "\n".join(terminal(line) for line in text.replace("\r\n", "\n").split("\n"))


def workflow_data(text: str) -> str:
    """The message of a workflow command (`::error …::DATA`), escaped as GitHub documents
    (`%` → %25, CR → %0D, LF → %0A), with other unsafe characters shown as escapes."""
    escaped = _UNSAFE_BUT_NEWLINES.sub(_visible, text)
    return escaped.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def workflow_property(text: str) -> str:
    """A property value of a workflow command (`file=`, `title=`): as `workflow_data`, and
    `:` → %3A, `,` → %2C, which would end the value."""
    return workflow_data(text).replace(":", "%3A").replace(",", "%2C")


def markdown(text: str) -> str:
    """Inline text for GitHub Markdown, also inside a table cell or an HTML element: no
    HTML (`<` `>` `&` as entities), no code spans, links or images (backticks, backslashes
    and the `(` of `](` as entities), no cell breaks (`\\|`), one line (LF → space), other
    unsafe characters shown as escapes, no mentions (`@name` notifies nobody)."""
    one_line = text.replace("\r\n", " ").replace("\n", " ")
    inert = _MARKDOWN_SPECIAL.sub(lambda m: _MARKDOWN[m.group()], one_line)
    inert = _MENTION.sub("@&#8203;", inert)
    # Then the visible escapes: a backslash before a letter is no Markdown escape.
    return _UNSAFE.sub(_visible, inert)


def json_text(document: str) -> str:
    """A JSON document (from json.dumps with ensure_ascii=False) with the unsafe characters
    JSON leaves raw (DEL, C1 controls, line separators, bidi controls) written as `\\uXXXX`
    escapes: the same data, safe to print. They can only occur inside strings."""
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", document)
