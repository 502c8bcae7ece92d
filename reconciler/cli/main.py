"""The `cxrecon` group. Commands load lazily so `cxrecon validate` never imports the
HTTP client or the emulator, and a bad input never ends in a traceback."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any, Final

import click

from reconciler import __version__
from reconciler.errors import CxreconError

#: command name → "module:attribute". The emulator is only imported by its own command.
COMMANDS: Final = {
    "validate": "reconciler.cli.validate:validate",
    "secrets": "reconciler.cli.secrets:secrets",
    "plan": "reconciler.cli.plan:plan",
    "apply": "reconciler.cli.apply:apply",
    "drift": "reconciler.cli.drift:drift",
    "dump": "reconciler.cli.dump:dump",
    "sync": "reconciler.cli.sync:sync",
    "reconcile": "reconciler.cli.reconcile:reconcile",
    "emulator": "reconciler.cli.emulator:emulator",
    "github": "reconciler.cli.github:github",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when used (or listed in --help)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._available(name)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None or not self._available(cmd_name):
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def invoke(self, ctx: click.Context) -> Any:
        # User-facing errors become one line on stderr and their exit code, never a traceback.
        try:
            return super().invoke(ctx)
        except CxreconError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)

    @staticmethod
    def _available(cmd_name: str) -> bool:
        module_name = COMMANDS[cmd_name].split(":")[0]
        return importlib.util.find_spec(module_name) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cxrecon")
def cli() -> None:
    """Declarative GitOps reconciler for NICE CXone CRM connectors.

    Keep connector configuration as YAML in git; validate it, plan the
    difference against a tenant, and apply it with ETag guards.
    """


def main(argv: list[str] | None = None) -> None:
    """Console entry point (`cxrecon`, `python -m reconciler`)."""
    cli.main(args=argv, prog_name="cxrecon")
