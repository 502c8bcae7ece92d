"""Every example in README.md and docs/*.md runs or validates as written (issue 24).

The fenced blocks are read from the documents themselves, each judged as the kind of file it
is: a connector file and the README's cxrecon.yaml validate together with `cxrecon
validate`; other cxrecon.yaml examples (whole, or the list items of one section) validate as
a project file; a pre-commit or workflow fragment parses and names hooks and commands that
exist; every `cxrecon …` command line parses against the CLI; the README's first command and
its Python example run against the embedded emulator.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Final

import click
import pytest
import yaml
from click.testing import CliRunner

from reconciler.cli.main import cli

from .documents import REPO, Block, blocks

#: Top-level keys only a cxrecon.yaml has (a connector file has `name` and `connectorType`).
PROJECT_KEYS: Final = frozenset(
    json.loads((REPO / "schemas" / "project.schema.json").read_text())["properties"]
)
#: Values the environment holds where an example reads ${env:…} (never a real secret).
EXAMPLE_ENV: Final = {
    "TEAMS_WEBHOOK_URL": "json://127.0.0.1:9/teams",
    "SLACK_WEBHOOK_URL": "json://127.0.0.1:9/slack",
    "SLACK_RELEASES_URL": "json://127.0.0.1:9/releases",
    "NO_COLOR": "1",
    "GITHUB_ACTIONS": "",
    "GITHUB_STEP_SUMMARY": "",
}


def _kind(block: Block) -> str:
    text = textwrap.dedent(block.text)
    data = yaml.safe_load(text)
    if isinstance(data, dict) and {"name", "connectorType"} <= set(data):
        return "connector"
    if isinstance(data, dict) and set(data) <= PROJECT_KEYS:
        return "project"
    if isinstance(data, dict) and "repos" in data:
        return "pre-commit"
    if isinstance(data, list) and all(isinstance(i, dict) and "rule" in i for i in data):
        return "policies"
    if isinstance(data, list) and all(isinstance(i, dict) and "run" in i for i in data):
        return "workflow-steps"
    return "unknown"


YAML_BLOCKS: Final = blocks("yaml")


def test_the_documents_hold_examples_of_every_kind() -> None:
    kinds = {_kind(b) for b in YAML_BLOCKS}
    assert {"connector", "project", "policies", "pre-commit", "workflow-steps"} <= kinds
    assert [b.where for b in YAML_BLOCKS if _kind(b) == "unknown"] == []


def _validate(project: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", "--format", "json"],
        cwd=project,
        env={"PATH": "/usr/bin:/bin", **EXAMPLE_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def _project(tmp_path: Path, cxrecon_yaml: str, connectors: dict[str, str]) -> Path:
    project = tmp_path / "project"
    (project / "connectors").mkdir(parents=True)
    (project / "cxrecon.yaml").write_text(cxrecon_yaml, encoding="utf-8")
    for name, text in connectors.items():
        (project / "connectors" / name).write_text(text, encoding="utf-8")
    return project


def _readme_project_file() -> Block:
    [block] = [
        b
        for b in YAML_BLOCKS
        if b.document.name == "README.md" and _kind(b) == "project" and "baseUrl" in b.text
    ]
    return block


CONNECTORS: Final = [b for b in YAML_BLOCKS if _kind(b) == "connector"]


@pytest.mark.parametrize("block", CONNECTORS, ids=[b.where for b in CONNECTORS])
def test_a_connector_example_validates_with_the_readmes_project_file(
    block: Block, tmp_path: Path
) -> None:
    project_file = _readme_project_file()
    project = _project(tmp_path, project_file.text, {"example.yaml": block.text})
    code, output, errors = _validate(project)
    assert code == 0, f"{block.where} with {project_file.where}: {output}{errors}"
    report = json.loads(output)
    assert report["diagnostics"] == [], f"{block.where}: {report['diagnostics']}"


PROJECTS: Final = [b for b in YAML_BLOCKS if _kind(b) in ("project", "policies")]


@pytest.mark.parametrize("block", PROJECTS, ids=[b.where for b in PROJECTS])
def test_a_cxrecon_yaml_example_validates_as_a_project_file(block: Block, tmp_path: Path) -> None:
    text = textwrap.dedent(block.text)
    if _kind(block) == "policies":
        text = "policies:\n" + textwrap.indent(text, "  ")
    data = yaml.safe_load(text)
    if "environments" not in data:
        # A section shown on its own: it sits in a file that defines the README's
        # environments (its examples name production and sandbox).
        text += "environments:\n  production: {}\n  sandbox: {}\n"
    project = _project(tmp_path, text, {})
    code, output, errors = _validate(project)
    assert code == 0, f"{block.where}: {output}{errors}"


def test_the_pre_commit_example_names_a_hook_this_repository_ships() -> None:
    [block] = [b for b in YAML_BLOCKS if _kind(b) == "pre-commit"]
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    shipped = {hook["id"] for hook in hooks}
    used = {h["id"] for repo in yaml.safe_load(block.text)["repos"] for h in repo["hooks"]}
    assert used <= shipped, block.where


# --- command lines -------------------------------------------------------------------------


def command_lines() -> list[tuple[str, list[str]]]:
    """Every `cxrecon …` command of the shell blocks and of the workflow fragments, as argv
    (a leading `$ ` prompt and VAR=value assignments dropped; `&&` chains split)."""
    found: list[tuple[str, list[str]]] = []
    for block in blocks():
        if block.language in ("sh", "bash", "console", "shell"):
            lines = block.text.splitlines()
        elif not block.language:
            # An untagged block mixes a session's prompts with their output: the `$ ` lines.
            lines = [raw for raw in block.text.splitlines() if raw.startswith("$ ")]
        elif block.language == "yaml" and _kind(block) == "workflow-steps":
            lines = [str(step["run"]) for step in yaml.safe_load(textwrap.dedent(block.text))]
        else:
            continue
        for number, raw in enumerate(lines):
            line = raw.removeprefix("$ ").strip()
            if raw.startswith(("#",)) or (block.language == "sh" and not line):
                continue
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                    words = words[1:]
                if words[:1] == ["cxrecon"]:
                    found.append((f"{block.where}+{number}", words[1:]))
    return found


COMMANDS: Final = command_lines()


def test_the_documents_show_cxrecon_commands() -> None:
    assert len(COMMANDS) >= 6


@pytest.mark.parametrize(("where", "argv"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_a_command_line_parses_against_the_cli(where: str, argv: list[str]) -> None:
    context = cli.make_context("cxrecon", list(argv), resilient_parsing=False)
    command: click.Command = cli
    args = list(argv)
    while isinstance(command, click.Group):
        with context:
            name, sub, args = command.resolve_command(context, args)
        assert sub is not None, f"{where}: no command {name!r}"
        command = sub
        context = command.make_context(name or "", list(args), parent=context)
    assert context.command is command, where


# --- examples that run ---------------------------------------------------------------------


@pytest.fixture
def repository_project(tmp_path: Path) -> Path:
    """This repository's own project (what a fresh clone holds), outside the checkout."""
    project = tmp_path / "clone"
    shutil.copytree(REPO / "connectors", project / "connectors")
    shutil.copyfile(REPO / "cxrecon.yaml", project / "cxrecon.yaml")
    return project


def test_the_readmes_first_command_runs(
    repository_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [first] = [b for b in blocks("sh") if "pip install ." in b.text]
    chain = [shlex.split(part) for part in first.text.strip().split("&&")]
    runs = [words[1:] for words in chain if words[:1] == ["cxrecon"]]
    assert runs == [["plan", "--emulator"], ["apply", "--emulator", "--auto-approve"]]
    monkeypatch.chdir(repository_project)
    for argv in runs:
        result = CliRunner().invoke(cli, argv, env=EXAMPLE_ENV)
        assert result.exit_code == 0, f"{first.where}: cxrecon {' '.join(argv)}\n{result.output}"


def test_the_readmes_python_example_runs(repository_project: Path) -> None:
    [example] = blocks("python")
    script = repository_project / "example.py"
    script.write_text(example.text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=repository_project,
        env={"PATH": "/usr/bin:/bin", **EXAMPLE_ENV},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{example.where}: {done.stderr[-2000:]}"
    assert "Plan:" in done.stdout


def test_ci_runs_the_readmes_test_command() -> None:
    """`.ci/run` installs and tests as the README's second set-up command says."""
    [second] = [b for b in blocks("sh") if "pip install -e" in b.text]
    steps = [part.strip() for part in second.text.strip().split("&&")]
    install = next(s for s in steps if s.startswith("pip install"))
    test = steps[-1]
    assert test.split()[0] == "pytest", second.where
    lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert install in lines, f".ci/run does not run the README's `{install}`"
    runs = [line for line in lines if line.split()[:1] == ["pytest"]]
    assert runs[-1:] == [test], f".ci/run's last pytest is not the README's `{test}`"
