"""`cxrecon --help` and `cxrecon COMMAND --help` give every command and option a help text."""

from __future__ import annotations

from typing import Final

import pytest

from .documents import commands, options

COMMANDS: Final = dict(commands())


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_of_every_command_has_help_text(name: str) -> None:
    command = COMMANDS[name]
    undocumented = [option.opts[0] for option in options(command) if not option.help]
    assert command.help, f"{name} has no help text"
    assert undocumented == [], f"{name}: options without help: {undocumented}"
