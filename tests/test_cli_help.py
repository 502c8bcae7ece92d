"""`cxrecon --help` and `cxrecon COMMAND --help` document every option (the README says so)."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest

from reconciler.cli.main import cli


def _commands(
    group: click.Group, ctx: click.Context, path: tuple[str, ...]
) -> Iterator[tuple[str, click.Command]]:
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        yield " ".join((*path, name)), command
        if isinstance(command, click.Group):
            yield from _commands(command, ctx, (*path, name))


COMMANDS = dict(_commands(cli, click.Context(cli), ("cxrecon",)))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_of_every_command_has_help_text(name: str) -> None:
    command = COMMANDS[name]
    undocumented = [
        option.opts[0]
        for option in command.params
        if isinstance(option, click.Option) and option.name != "help" and not option.help
    ]
    assert command.help, f"{name} has no help text"
    assert undocumented == [], f"{name}: options without help: {undocumented}"
