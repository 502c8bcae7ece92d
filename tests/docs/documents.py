"""The documents the docs tests read (README.md and docs/*.md) and their fenced blocks, and
the CLI's command tree: what the documents are checked against."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import click

from reconciler.cli.main import cli

REPO: Final = Path(__file__).resolve().parents[2]
DOCUMENTS: Final = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE: Final = re.compile(r"^( *)```(\w*)[^\n]*\n(.*?)^ *```", re.S | re.M)


@dataclass(frozen=True)
class Block:
    document: Path
    line: int
    language: str
    text: str
    #: The HTML comment on the last non-blank line before the fence, e.g. `output: NAME`.
    marker: str = ""

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(REPO)}:{self.line}"


def _marker(text: str, start: int) -> str:
    before = [line.strip() for line in text[:start].splitlines() if line.strip()]
    found = re.fullmatch(r"<!--\s*(.*?)\s*-->", before[-1]) if before else None
    return found.group(1) if found else ""


def blocks(language: str | None = None) -> list[Block]:
    """Every fenced block of the documents (of one language), dedented as a list item's."""
    found = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            indent, lang, body = match.group(1), match.group(2), match.group(3)
            if language is None or lang == language:
                body = re.sub(rf"(?m)^{indent}", "", body) if indent else body
                line = text.count("\n", 0, match.start()) + 2
                found.append(Block(document, line, lang, body, _marker(text, match.start())))
    return found


def all_text() -> str:
    return "\n".join(d.read_text(encoding="utf-8") for d in DOCUMENTS)


def commands(
    group: click.Group = cli, path: tuple[str, ...] = ("cxrecon",)
) -> Iterator[tuple[str, click.Command]]:
    """Every command and subcommand of the CLI, hidden ones included, by its full name."""
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, name
        yield " ".join((*path, name)), command
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


def options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option) and p.name != "help"]
