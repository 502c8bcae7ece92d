"""The command reference (docs/commands.md) and the README's command table against the CLI:
every option of every command, hidden ones included, is documented under its command, and
nothing documented is gone from the CLI."""

from __future__ import annotations

import re
from typing import Final

import click
import pytest

from reconciler.cli.main import cli

from .documents import REPO, all_text, commands, options

COMMANDS: Final = dict(commands())
REFERENCE: Final = REPO / "docs" / "commands.md"
HEADING: Final = re.compile(r"^#+ `(cxrecon [a-z -]+)`$", re.M)
#: Options of the other tools the documents quote (check-jsonschema).
OTHER_TOOLS: Final = {"--base-uri", "--schemafile"}


def _flags(command: click.Command) -> set[str]:
    return {flag for option in options(command) for flag in (*option.opts, *option.secondary_opts)}


def reference_sections() -> dict[str, str]:
    """docs/commands.md by command: the text under each `cxrecon NAME` heading."""
    text = REFERENCE.read_text(encoding="utf-8")
    found = list(HEADING.finditer(text))
    ends = [m.start() for m in found[1:]] + [len(text)]
    return {m.group(1): text[m.end() : end] for m, end in zip(found, ends, strict=True)}


def documented_flags(section: str) -> set[str]:
    """The flags of the option column: `| `-e, --environment NAME` | …` gives -e and
    --environment; `--wait / --no-wait` both."""
    flags: set[str] = set()
    for cell in re.findall(r"^\| `([^`]+)` \|", section, re.M):
        flags |= {word for word in re.split(r"[ ,/]+", cell) if word.startswith("-")}
    return flags


SECTIONS: Final = reference_sections()
DOCUMENTED: Final = sorted(n for n, c in COMMANDS.items() if not isinstance(c, click.Group))


def test_every_command_has_a_section_and_every_section_a_command() -> None:
    groups_with_options = [
        n for n, c in COMMANDS.items() if isinstance(c, click.Group) and options(c)
    ]
    assert groups_with_options == []  # a group's options would need a section of their own
    assert sorted(SECTIONS) == DOCUMENTED


@pytest.mark.parametrize("name", DOCUMENTED)
def test_every_option_is_documented_under_its_command(name: str) -> None:
    section = SECTIONS.get(name, "")
    flags = _flags(COMMANDS[name])
    documented = documented_flags(section)
    assert sorted(flags - documented) == [], f"{name}: options missing from docs/commands.md"
    assert sorted(documented - flags) == [], f"{name}: docs/commands.md names unknown options"
    usage = re.search(rf"^`{re.escape(name)}( [^`]*)?`$", section, re.M)
    assert usage is not None, f"{name}: no usage line under its heading"


def test_the_reference_names_the_root_options() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    assert {flag for option in options(cli) for flag in option.opts} <= set(
        re.findall(r"`cxrecon (--[a-z-]+)`", text)
    )


# --- the README's command table --------------------------------------------------------------


def readme_table() -> list[tuple[str, list[str]]]:
    """The README's command table: per row, the command's words and the flags it shows."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    rows = []
    for cell in re.findall(r"^\| `(cxrecon [^`]+)` \|", text, re.M):
        words = cell.split()
        name = [words[0]]
        command: click.Command = cli
        for word in words[1:]:
            if not isinstance(command, click.Group) or word not in command.list_commands(
                click.Context(command)
            ):
                break
            found = command.get_command(click.Context(command), word)
            assert found is not None
            command, name = found, [*name, word]
        rows.append((" ".join(name), re.findall(r"(?<![\w-])-{1,2}[a-z][a-z-]*", cell)))
    return rows


def test_the_readme_table_lists_every_command_with_options_it_has() -> None:
    rows = readme_table()
    listed = {name for name, _ in rows}
    visible = {
        name
        for name, command in COMMANDS.items()
        if not isinstance(command, click.Group)
        and not any(COMMANDS.get(" ".join(name.split()[:n]), cli).hidden for n in (2, 3))
    }
    assert sorted(visible - listed) == [], "commands missing from the README's table"
    assert sorted(listed - set(COMMANDS)) == [], "the README's table names unknown commands"
    for name, flags in rows:
        unknown = set(flags) - _flags(COMMANDS[name])
        assert unknown == set(), f"README table row {name}: {sorted(unknown)}"


def test_every_option_the_documents_name_exists() -> None:
    """A `--flag` in README.md or docs/*.md is an option of some command (or of the other
    tools the documents quote), so a removed or renamed option leaves no stale mention."""
    known = {flag for command in COMMANDS.values() for flag in _flags(command)}
    known |= {"--version", "--help"} | OTHER_TOOLS
    named = set(re.findall(r"(?<![\w/-])--[a-z][a-z0-9-]*(?![\w*-])", all_text()))
    assert sorted(named - known) == []
