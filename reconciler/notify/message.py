"""An event as a short message for one medium: CommonMark for services that render Markdown
(Slack, Teams, Discord, JSON webhooks), plain text for the rest (e-mail, SMS, …).

Connector names, values and server messages are user-controlled: each is made inert for the
medium (no markup, links, HTML or mentions: `@channel`, `@here`, `<!here>`, `@everyone`
notify nobody) and one line with control characters shown as escapes (render.escape).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from reconciler.notify.events import Event, EventKind
from reconciler.render.escape import terminal

#: Connectors listed in one message before "… and N more": a message is read in a chat.
ITEMS_SHOWN: Final = 10
#: A reason or detail longer than this is cut (server messages can be long).
TEXT_CHARS: Final = 300
#: What CommonMark (and Slack's, Teams' and Discord's Markdown) could read as markup in
#: inline text: emphasis, code, links and images, HTML and entities, strikethrough.
_MARKUP: Final = re.compile(r"([\\`*\[\]<>&~|])")
#: `_` makes emphasis only at a word's edge: `case.external_id` stays as it reads.
_UNDERSCORE: Final = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
#: A mention: `@name` (Slack, Teams, Discord's @everyone / @here, GitHub) and Slack's
#: `<!here>` / `<!channel>` commands. A zero-width space after the sigil keeps the text as
#: it reads and makes it address nobody.
_AT: Final = re.compile(r"@(?=\w)")
_BANG: Final = re.compile(r"<(?=\s*!)")


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str
    markdown: bool


def render(event: Event, *, markdown: bool) -> Message:
    """The title and body of `event`, as Markdown or as plain text."""
    inline = _markdown_inline if markdown else _text_inline
    bold = (lambda text: f"**{text}**") if markdown else (lambda text: text)
    lines: list[str] = []
    if event.summary:
        lines.append(bold(event.summary))
    if event.reason:
        lines.append(inline(event.reason))
    if lines and event.items:
        lines.append("")
    for item in event.items[:ITEMS_SHOWN]:
        details = "; ".join(inline(d) for d in item.details)
        lines.append(f"- {bold(inline(item.name))}" + (f": {details}" if details else ""))
    if len(event.items) > ITEMS_SHOWN:
        lines.append(f"- … and {len(event.items) - ITEMS_SHOWN} more")
    lines += ["", _context(event, markdown)]
    links = _links(event, markdown)
    if links:
        lines.append(links)
    return Message(_title(event), "\n".join(lines).strip("\n"), markdown)


def test_message(
    project: str | None, name: str, events: tuple[str, ...], *, markdown: bool
) -> Message:
    """What `cxrecon notify test` sends: which project, which destination, which events."""
    inline = _markdown_inline if markdown else _text_inline
    who = f" of project {inline(project)}" if project else ""
    body = (
        f"Test message from cxrecon{who} to the notification {inline(name)}.\n\n"
        f"This destination is told: {', '.join(events)}."
    )
    return Message("cxrecon: test message", body, markdown)


def _title(event: Event) -> str:
    where = f" in {_text_inline(event.where.environment)}" if event.where.environment else ""
    return f"cxrecon: {event.kind.heading}{where}"


def _context(event: Event, markdown: bool) -> str:
    where = event.where
    inline = _markdown_inline if markdown else _text_inline
    parts = []
    if where.environment:
        parts.append(f"environment {inline(where.environment)}")
    if where.project:
        parts.append(f"project {inline(where.project)}")
    if where.commit:
        # A commit is hex (checked in Where.of): safe inside a code span.
        parts.append(f"commit `{where.commit[:12]}`" if markdown else f"commit {where.commit[:12]}")
    elif event.kind not in (EventKind.NOT_READY, EventKind.RECOVERED):
        parts.append("no commit recorded")
    text = "; ".join(parts) or "cxrecon"
    return text[:1].upper() + text[1:] + "."


def _links(event: Event, markdown: bool) -> str:
    if not event.where.links:
        return ""
    if markdown:
        return " · ".join(f"[{link.label}]({link.url})" for link in event.where.links)
    return "\n".join(f"{link.label.capitalize()}: {link.url}" for link in event.where.links)


def _short(text: str) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= TEXT_CHARS else one_line[: TEXT_CHARS - 1] + "…"


def _markdown_inline(text: str) -> str:
    """User text as inert inline Markdown: backslash escapes (which CommonMark, Slack's
    converter in Apprise and Discord all read as the literal character), no mentions."""
    escaped = _UNDERSCORE.sub(r"\\_", _MARKUP.sub(r"\\\1", terminal(_short(text))))
    return _AT.sub("@\u200b", escaped)


def _text_inline(text: str) -> str:
    """User text as one inert plain-text line: control characters visible, no mentions."""
    return _BANG.sub("<\u200b", _AT.sub("@\u200b", terminal(_short(text))))
