"""`cxrecon` starts fast (issue 16): the command list and every command's `--help` load none of
the heavy dependencies, and `validate` none of the network stack. Checked by the modules a
fresh process imported, not by time (benchmarks/bench_startup.py times them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from reconciler.cli.main import HIDDEN, SUMMARIES, cli

ROOT = Path(__file__).resolve().parents[1]

#: What no `--help` may import: the HTTP client and server stacks, the schema checkers, the
#: diff engine, metrics, cron parsing, the round-trip YAML writer.
HEAVY = frozenset(
    {
        "httpx",
        "jsonschema",
        "jsonschema_rs",
        "deepdiff",
        "anyio",
        "prometheus_client",
        "starlette",
        "uvicorn",
        "croniter",
        "ruamel",
    }
)
#: What `validate` (no network) may not import.
NETWORK = frozenset({"httpx", "anyio", "starlette", "uvicorn"})

_RUN = """
import json, sys
from reconciler.cli.main import cli
try:
    cli.main(args=sys.argv[1:], prog_name="cxrecon")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
sys.stderr.write("\\n" + json.dumps({"exit": code, "modules": sorted(sys.modules)}) + "\\n")
"""


def imported_by(*args: str) -> tuple[int | str | None, set[str]]:
    """(exit code, modules in sys.modules) after `cxrecon ARGS` in a fresh interpreter."""
    # No cache: whether an earlier run in this folder left entries must not matter.
    env = {**os.environ, "GITHUB_ACTIONS": "false", "COLUMNS": "80", "CXRECON_NO_CACHE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _RUN, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(done.stderr.rstrip().rsplit("\n", 1)[-1])
    return report["exit"], set(report["modules"])


def heavy_in(modules: set[str], heavy: frozenset[str]) -> list[str]:
    return sorted({m.split(".")[0] for m in modules} & heavy)


def _help_invocations() -> list[tuple[str, ...]]:
    ctx = click.Context(cli)
    out: list[tuple[str, ...]] = [("--help",)]
    for name in cli.list_commands(ctx):
        out.append((name, "--help"))
        command = cli.get_command(ctx, name)
        if isinstance(command, click.Group):
            out += [(name, sub, "--help") for sub in command.list_commands(ctx)]
    return out


def test_the_command_list_imports_no_command_module_and_nothing_heavy() -> None:
    code, modules = imported_by("--help")
    assert code == 0
    assert heavy_in(modules, HEAVY) == []
    commands = sorted(
        m for m in modules if m.startswith("reconciler.cli.") and m != "reconciler.cli.main"
    )
    assert commands == []


def test_plan_help_imports_nothing_heavy() -> None:
    code, modules = imported_by("plan", "--help")
    assert code == 0
    assert heavy_in(modules, HEAVY) == []
    # Nor the stages themselves: the planner, the client, the facade.
    assert not {"reconciler.facade", "reconciler.plan.build", "reconciler.cxone.client"} & modules


@pytest.mark.parametrize("args", _help_invocations(), ids=" ".join)
def test_every_help_imports_nothing_heavy(args: tuple[str, ...]) -> None:
    code, modules = imported_by(*args)
    assert code == 0
    assert heavy_in(modules, HEAVY) == []


def test_validate_of_the_sample_connectors_imports_no_network_stack() -> None:
    code, modules = imported_by("validate", "connectors")
    assert code == 0
    assert heavy_in(modules, NETWORK) == []
    assert not any(m.startswith("reconciler.emulator") for m in modules)
    assert "reconciler.cxone.client" not in modules


def test_the_facade_leaves_drift_and_dump_to_the_commands_that_use_them() -> None:
    # apply and plan go through reconciler.facade; drift reports and dumps (and the
    # comment-preserving YAML writer under them) are other commands' work.
    code = (
        "import sys, reconciler.facade; "
        "print(sorted(m for m in sys.modules if m.startswith(('ruamel', 'reconciler.gitops'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_validate_of_valid_connectors_imports_neither_jsonschema_nor_croniter() -> None:
    # jsonschema only explains a document the Rust validator rejects; croniter only reads
    # sync windows, and the sample cxrecon.yaml has none.
    code, modules = imported_by("validate", "connectors")
    assert code == 0
    assert heavy_in(modules, frozenset({"jsonschema", "croniter"})) == []


def test_validate_still_explains_a_rejected_connector_at_its_line() -> None:
    # The one path that needs jsonschema imports it: in a fresh process, not one where a
    # test module has imported it already.
    fixture = "tests/fixtures/bad/schema-unknown-key-typo.yaml"
    # No cache: a warm entry (an earlier run in this folder) would skip the schema check.
    env = {
        **os.environ,
        "GITHUB_ACTIONS": "false",
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "CXRECON_NO_CACHE": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", _RUN, "validate", fixture],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(done.stderr.rstrip().rsplit("\n", 1)[-1])
    assert report["exit"] == 1
    assert "jsonschema" in report["modules"]
    assert (
        f"{fixture}:7:1: error: unknown key 'endpointURL' (did you mean 'endpointUrl'?) [schema]"
        in done.stdout
    )


# --- the command list without the commands ------------------------------------------------


@pytest.mark.parametrize("name", cli.list_commands(click.Context(cli)))
def test_each_summary_is_the_first_paragraph_of_the_command_help(name: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    assert command.help
    first = " ".join(command.help.partition("\n\n")[0].split())
    assert command.short_help is None
    assert not command.deprecated
    assert " ".join(SUMMARIES.get(name, "").split()) == first, (
        f"update SUMMARIES[{name!r}] in reconciler/cli/main.py to the command's help"
    )
    assert (name in HIDDEN) == command.hidden


@pytest.mark.parametrize("width", [40, 80, 120, 200])
def test_the_command_list_reads_as_click_would_write_it(width: int) -> None:
    def listing(format_commands: object) -> str:
        ctx = click.Context(cli, terminal_width=width)
        formatter = ctx.make_formatter()
        format_commands(ctx, formatter)  # type: ignore[operator]
        return formatter.getvalue()

    lazy = listing(cli.format_commands)
    # click's own, which imports every command to ask for its short help
    imported = listing(lambda ctx, f: click.Group.format_commands(cli, ctx, f))
    assert lazy == imported
    assert "validate" in lazy
    assert "github" not in lazy


def test_dump_schema_ref_default_is_the_dump_module_default() -> None:
    from reconciler.cli import dump as dump_command
    from reconciler.gitops import dump_yaml

    assert dump_command.SCHEMA_REF == dump_yaml.SCHEMA_REF
