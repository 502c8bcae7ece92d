"""The `cxrecon` group. Commands load lazily so `cxrecon validate` never imports the
HTTP client or the emulator, and a bad input never ends in a traceback.

`cxrecon --help` imports no command module (the list comes from SUMMARIES), and a command's
module imports at its top only what its options need: the heavy parts (the client, the
planner, jsonschema, the controller) load inside the command's function. tests/test_startup.py
checks both, and benchmarks/bench_startup.py times them.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import sys
from gettext import gettext as _
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
    "init": "reconciler.cli.init:init",
    "sync": "reconciler.cli.sync:sync",
    "reconcile": "reconciler.cli.reconcile:reconcile",
    "status": "reconciler.cli.status:status",
    "notify": "reconciler.cli.notify:notify",
    "emulator": "reconciler.cli.emulator:emulator",
    "github": "reconciler.cli.github:github",
}

#: command name → the first paragraph of its help, which is what `cxrecon --help` shows of
#: it: listing the commands then imports none of them. tests/test_startup.py checks these
#: against the commands (a command missing here is imported to list it).
SUMMARIES: Final = {
    "validate": "Check connector files: YAML, JSON Schema, references and lint. No network.",
    "secrets": "List the secrets the project needs, per environment, and whether they are set "
    "here.",
    "plan": "Show what `apply` would change in CXone. Read-only.",
    "apply": "Make CXone match git: create, update, (de)activate connectors, with ETag guards.",
    "drift": "Show changes made in CXone since cxrecon last applied each connector. Read-only "
    "unless --write-back.",
    "dump": "Write one YAML file per connector in the tenant into --out.",
    "init": "Start a connectors repository in DIR (default: here).",
    "sync": "Trigger a CRM data sync on connector NAME (it must be ACTIVE) and wait for it.",
    "reconcile": "Keep CXone in line with git: a reconcile loop (controller mode).",
    "status": "Show each connector's state (in sync, drift, waiting, failed, …).",
    "notify": "Send a test message to each destination of `notifications:`.",
    "emulator": "The local CXone API emulator (OAuth, connectors, sync jobs, faults).",
    "github": "Report cxrecon results to GitHub from a workflow (uses the `gh` CLI and GH_TOKEN).",
}
#: Commands left out of `cxrecon --help` (CI plumbing); their own `hidden=True` says the same.
HIDDEN: Final = frozenset({"github"})


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

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, as click writes it, from SUMMARIES (no command module loads)."""
        listed = []
        for name in self.list_commands(ctx):
            command = self._summary(ctx, name)
            if command is not None and not command.hidden:
                listed.append((name, command))
        if listed:
            limit = formatter.width - 6 - max(len(name) for name, _command in listed)
            with formatter.section(_("Commands")):
                formatter.write_dl([(name, c.get_short_help_str(limit)) for name, c in listed])

    def _summary(self, ctx: click.Context, name: str) -> click.Command | None:
        """A stand-in with the command's name, summary and visibility; the command itself
        when it has no summary here."""
        summary = SUMMARIES.get(name)
        if summary is None:
            return self.get_command(ctx, name)
        return click.Command(name, help=summary, hidden=name in HIDDEN)

    def invoke(self, ctx: click.Context) -> Any:
        # User-facing errors become one line on stderr and their exit code, never a traceback.
        try:
            return super().invoke(ctx)
        except CxreconError as exc:
            # Messages quote user-controlled text (names, values, server answers): escaped,
            # so a crafted one cannot print a forged `::error` line or terminal escapes.
            from reconciler.render.escape import terminal_lines

            click.echo("error: " + terminal_lines(str(exc)), err=True)
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


#: Commands that run for long: they keep Python's garbage-collection defaults.
LONG_RUNNING: Final = frozenset({"reconcile", "emulator"})


def main(argv: list[str] | None = None) -> None:
    """Console entry point (`cxrecon`, `python -m reconciler`)."""
    args = sys.argv[1:] if argv is None else argv
    if not LONG_RUNNING.intersection(args[:1]):
        tune_gc_for_one_shot()
    cli.main(args=argv, prog_name="cxrecon")


def tune_gc_for_one_shot() -> None:
    """A one-shot command builds thousands of connectors and makes almost no reference cycles;
    with the default first-generation threshold (700) each collection rescans all of them
    (about 1 s of a 5 s load at 10,000 connectors). A process that ends in seconds can afford
    to collect rarely. This is the CLI's choice for its own process, never a library side
    effect: embedding code and the controller keep Python's defaults."""
    gc.set_threshold(100_000, 50, 50)
