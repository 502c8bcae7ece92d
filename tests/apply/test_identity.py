"""A project's identity is `project:` in cxrecon.yaml (or CXRECON_PROJECT), never the folder
it is checked out in (issue 24): a clone, a worktree or a git-sync checkout plans "No
changes"; two repositories in folders of the same name stay apart; `previousProjects` takes
over the connectors of an older identity; a write without an identity, an environment named
among several, or with CXONE_BASE_URL at another tenant is refused before anything is written.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from reconciler.config.identity import check_write_target
from reconciler.config.project import EnvironmentConfig
from reconciler.errors import ConfigError
from reconciler.model import LABEL_PROJECT
from reconciler.testing import RunningEmulator

from .helpers import Project, connector_doc, remote_connectors, run_cli, write_count

#: One controller cycle on the checkout as it is, no endpoints.
ONE_CYCLE = ("reconcile", "--once", "--no-pull", "--listen", "off")


def owners(emulator: RunningEmulator) -> dict[str, str | None]:
    return {c["name"]: c["labels"].get(LABEL_PROJECT) for c in remote_connectors(emulator.control)}


def project_file(root: Path, text: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cxrecon.yaml").write_text(text, encoding="utf-8")


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def no_changes(where: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.chdir(where)
    result = run_cli(["plan", "--detailed-exitcode", *args])
    assert result.exit_code == 0, result.output
    assert "No changes" in result.output


@pytest.fixture
def team(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A repository whose cxrecon.yaml says `project: team`, applied (no CXRECON_PROJECT)."""
    monkeypatch.delenv("CXRECON_PROJECT")
    project_file(project.root, "project: team\nconnectors: connectors/\n")
    for name in ("Alpha", "Beta"):
        project.write(connector_doc(name))
    applied = run_cli(["apply", "--auto-approve"])
    assert applied.exit_code == 0, applied.output
    return project


def test_a_clone_in_another_folder_plans_no_changes(
    team: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert owners(emulator) == {"Alpha": "team", "Beta": "team"}
    clone = tmp_path / "a colleague's clone"
    shutil.copytree(team.root, clone, ignore=shutil.ignore_patterns(".cxrecon"))

    no_changes(clone, monkeypatch, "--prune")


def test_a_git_worktree_plans_no_changes(
    team: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    git(team.root, "init", "-q", "-b", "main")
    (team.root / ".gitignore").write_text(".cxrecon/\n", encoding="utf-8")
    git(team.root, "add", "-A")
    git(team.root, "commit", "-q", "-m", "connectors")
    worktree = tmp_path / "review-42"
    git(team.root, "worktree", "add", "-q", str(worktree), "-b", "review")

    no_changes(worktree, monkeypatch, "--prune")


def test_a_git_sync_worktree_named_after_the_commit_keeps_the_identity(
    team: Project, emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git-sync checks out into .worktrees/<sha> behind a link: cycle 1 labelled everything
    with the commit hash, and every later cycle failed on "managed by project '8f1c…'"."""
    root = tmp_path / "git"
    sha = "8f1c2e9a4b7d6c5e3f2a1b0c9d8e7f6a5b4c3d2e"
    shutil.copytree(team.root, root / ".worktrees" / sha, ignore=shutil.ignore_patterns(".*"))
    (root / "connectors").symlink_to(Path(".worktrees") / sha)
    team.write(connector_doc("Gamma"))  # the checkout has one more connector than the tenant
    shutil.copy(team.connectors / "gamma.yaml", root / ".worktrees" / sha / "connectors")
    # As the shipped Deployment: the identity from CXRECON_PROJECT, cxrecon.yaml without one.
    project_file(root / ".worktrees" / sha, "connectors: connectors/\n")
    monkeypatch.setenv("CXRECON_PROJECT", "team")
    monkeypatch.chdir(tmp_path)
    args = [*ONE_CYCLE, "--repo", str(root / "connectors")]
    args += ["--audit-log", str(tmp_path / "state" / "audit.jsonl")]

    first = run_cli(args)
    second = run_cli(args)

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert owners(emulator) == {"Alpha": "team", "Beta": "team", "Gamma": "team"}


def test_two_repositories_in_folders_of_the_same_name_do_not_share_an_identity(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CXRECON_PROJECT")
    a, b = Project(tmp_path / "a" / "repo"), Project(tmp_path / "b" / "repo")
    # Without `project:` neither may write: the folder name `repo` is no identity.
    a.write(connector_doc("A1"))
    monkeypatch.chdir(a.root)
    refused = run_cli(["apply", "--auto-approve", "--prune"])
    assert refused.exit_code == 1
    assert write_count(emulator.control) == 0
    for team, name, connectors in ((a, "team-a", ("A1",)), (b, "team-b", ("B1", "B2"))):
        project_file(team.root, f"project: {name}\n")
        for connector in connectors:
            team.write(connector_doc(connector))
        monkeypatch.chdir(team.root)
        assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    monkeypatch.chdir(a.root)

    pruned = run_cli(["apply", "--auto-approve", "--prune"])

    assert pruned.exit_code == 0, pruned.output
    assert owners(emulator) == {"A1": "team-a", "B1": "team-b", "B2": "team-b"}
    active = {c["name"]: c["lifecycleStatus"] for c in remote_connectors(emulator.control)}
    assert active == {"A1": "ACTIVE", "B1": "ACTIVE", "B2": "ACTIVE"}


def test_previous_projects_take_over_an_older_identitys_connectors_visibly(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Applied under the folder name older versions used; the team then names its project."""
    monkeypatch.setenv("CXRECON_PROJECT", "repo")
    for name in ("Alpha", "Beta"):
        project.write(connector_doc(name))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    monkeypatch.delenv("CXRECON_PROJECT")
    project_file(project.root, "project: crm-team\n")
    refused = run_cli(["plan", "--detailed-exitcode"])
    assert refused.exit_code == 1
    assert "managed by project 'repo'" in refused.output
    project_file(project.root, "project: crm-team\npreviousProjects: [repo]\n")
    writes = write_count(emulator.control)

    planned = run_cli(["plan", "--detailed-exitcode"])
    document = json.loads(run_cli(["plan", "--format", "json"]).output)
    applied = run_cli(["apply", "--auto-approve"])

    assert planned.exit_code == 2, planned.output
    assert planned.output.count("taken over from project repo") == 2
    assert {c["previousOwner"] for c in document["changes"]} == {"repo"}
    assert applied.exit_code == 0, applied.output
    assert write_count(emulator.control) == writes + 2
    assert owners(emulator) == {"Alpha": "crm-team", "Beta": "crm-team"}
    records = [r for r in project.audit_records() if r.get("result") == "success"]
    assert {r["details"]["tookOwnershipFrom"] for r in records[-2:]} == {"repo"}
    no_changes(project.root, monkeypatch, "--prune")


def test_an_orphan_of_a_previous_identity_is_this_projects(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXRECON_PROJECT", "repo")
    for name in ("Alpha", "Beta"):
        project.write(connector_doc(name))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    monkeypatch.delenv("CXRECON_PROJECT")
    project_file(project.root, "project: crm-team\npreviousProjects: [repo]\n")
    project.remove("Beta")

    document = json.loads(run_cli(["plan", "--prune", "--format", "json"]).output)

    actions = {c["name"]: c["action"] for c in document["changes"]}
    assert actions["Beta"] == "deactivate"


def test_a_write_without_an_identity_is_refused_and_reads_say_so(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CXRECON_PROJECT")
    project.write(connector_doc("Alpha"))

    planned = run_cli(["plan"])
    refused = run_cli(["apply", "--auto-approve"])
    controller = run_cli([*ONE_CYCLE, "--repo", "."])

    assert planned.exit_code == 0, planned.output
    assert "project: not set" in planned.output
    for result in (refused, controller):
        assert result.exit_code == 1, result.output
        (line,) = result.output.strip().splitlines()
        assert "`project:`" in line
        assert "cxrecon init" in line
        assert "Traceback" not in result.output
    assert write_count(emulator.control) == 0
    assert not project.audit_log.exists()
    dry = run_cli([*ONE_CYCLE, "--repo", ".", "--dry-run"])
    assert dry.exit_code == 2, dry.output


def test_a_cxrecon_project_that_is_no_label_value_is_one_line(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXRECON_PROJECT", "../team a")
    project.write(connector_doc("Alpha"))

    result = run_cli(["plan"])

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: CXRECON_PROJECT='../team a' is not a project id; use 1-63 letters, digits, "
        "'.', '_' or '-', starting and ending with a letter or digit"
    ]


def several_environments(project: Project, emulator: RunningEmulator, **production: Any) -> None:
    env = {"baseUrl": emulator.base_url, "clientId": "demo-client"}
    production = {**env, **production}
    lines = ["project: team", "defaultEnvironment: sandbox", "environments:"]
    lines.append(f"  sandbox: {json.dumps(env)}")
    lines.append(f"  production: {json.dumps(production)}")
    project_file(project.root, "\n".join(lines) + "\n")


def test_a_write_names_its_environment_among_several(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CXRECON_PROJECT")  # cxrecon.yaml names it
    several_environments(project, emulator)
    project.write(connector_doc("Alpha"))

    refused = run_cli(["apply", "--auto-approve"])
    planned = run_cli(["plan", "--format", "json"])

    assert refused.exit_code == 1
    (line,) = refused.output.strip().splitlines()
    assert "pass -e NAME or set CXRECON_ENVIRONMENT" in line
    assert "defaultEnvironment sandbox serves read-only commands only" in line
    assert write_count(emulator.control) == 0
    assert planned.exit_code == 0
    assert json.loads(planned.output)["environment"] == "sandbox"
    monkeypatch.setenv("CXRECON_ENVIRONMENT", "production")
    applied = run_cli(["apply", "--auto-approve"])
    assert applied.exit_code == 0, applied.output
    assert project.audit_records()[-1]["environment"] == "production"


def test_a_write_to_another_tenant_than_its_environment_is_refused(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deploy files' bug: CXONE_BASE_URL of production, the values of another."""
    monkeypatch.delenv("CXRECON_PROJECT")  # cxrecon.yaml names it
    several_environments(project, emulator, baseUrl="https://api-na1.niceincontact.example/api/v2")
    project.write(connector_doc("Alpha"))

    refused = run_cli(["apply", "-e", "production", "--auto-approve"])
    controller = run_cli([*ONE_CYCLE, "-e", "production", "--repo", "."])

    for result in (refused, controller):
        assert result.exit_code == 1
        (line,) = result.output.strip().splitlines()
        assert f"CXONE_BASE_URL={emulator.base_url}" in line
        assert "environment 'production'" in line
        assert "https://api-na1.niceincontact.example/api/v2" in line
    assert write_count(emulator.control) == 0
    same = run_cli(["apply", "-e", "sandbox", "--auto-approve"])
    assert same.exit_code == 0, same.output


def test_outside_a_project_every_command_names_cxrecon_yaml_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    monkeypatch.chdir(nowhere)

    commands = (
        ["plan", "--emulator"],
        ["apply", "--emulator", "--auto-approve"],
        ["drift", "--emulator"],
        ["status", "--plan", "--emulator"],
        ["validate"],
        ["secrets"],
        ["sync", "Alpha", "--emulator"],
        ["notify", "test"],
    )
    for args in commands:
        result = run_cli(args)
        assert result.exit_code == 1, (args, result.output)
        assert result.output.strip().splitlines() == [
            f"error: no cxrecon.yaml in {nowhere.resolve()} or above (up to the repository "
            "root); run `cxrecon init`, or pass a PATH"
        ], args
    assert list(nowhere.iterdir()) == []


def test_a_path_argument_is_echoed_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)

    for given in ("../no/such/connectors", "no/such/connectors"):
        result = run_cli(["validate", given])
        assert result.exit_code == 1
        assert f"error: {given} does not exist" in result.output, result.output


def test_the_tenant_check_compares_addresses_and_lets_local_emulators_move() -> None:
    production = EnvironmentConfig(
        "production", {"baseUrl": "https://API-na1.example.com/api/v2/"}, tenant="acme-prod"
    )
    local = EnvironmentConfig("local", {"baseUrl": "http://127.0.0.1:8787/api/v2"})

    check_write_target(production, {"CXONE_BASE_URL": "https://api-na1.example.com/api/v2"})
    check_write_target(local, {"CXONE_BASE_URL": "http://localhost:40111/api/v2"})
    check_write_target(production, {})
    check_write_target(production, {"CXONE_BASE_URL": "http://127.0.0.1:1/x"}, emulated=True)
    for elsewhere in ("https://api-eu1.example.com/api/v2", "http://127.0.0.1:8787/api/v2"):
        with pytest.raises(ConfigError) as refused:
            check_write_target(production, {"CXONE_BASE_URL": elsewhere})
        assert str(refused.value) == (
            f"CXONE_BASE_URL={elsewhere} points at another tenant than environment "
            "'production' (tenant acme-prod), whose baseUrl is "
            "https://API-na1.example.com/api/v2/; nothing was written. Unset CXONE_BASE_URL, "
            "or pass the -e NAME of the environment it belongs to"
        )
    # A URL that does not parse (a broken IPv6 literal) is another tenant too: one line, no
    # traceback (it used to raise ValueError from urlsplit).
    with pytest.raises(ConfigError, match=r"^CXONE_BASE_URL=http://\[::1 points at another"):
        check_write_target(local, {"CXONE_BASE_URL": "http://[::1"})
    # Loopback by name or address, in any spelling: local emulators may move.
    for moved in ("http://LOCALHOST.:1/api/v2", "http://[::1]:2/api/v2", "http://127.9.9.9/x"):
        check_write_target(local, {"CXONE_BASE_URL": moved})


def test_the_readmes_project_file_and_connector_examples_validate_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    (project_yaml,) = [b for b in blocks if b.startswith("project: ") and "\nconnectors:" in b]
    (connector,) = [b for b in blocks if b.startswith("# yaml-language-server") and "name: " in b]
    project_file(tmp_path, project_yaml)
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "example.yaml").write_text(connector, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CXRECON_PROJECT")

    result = run_cli(["validate", "--strict"])

    assert result.exit_code == 0, result.output


def test_a_crm_data_sync_names_its_environment_too(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    several_environments(project, emulator)
    project.write(connector_doc("Alpha"))
    assert run_cli(["apply", "-e", "sandbox", "--auto-approve"]).exit_code == 0
    monkeypatch.delenv("CXRECON_PROJECT")  # a sync labels nothing: no identity needed

    refused = run_cli(["sync", "Alpha", "--no-wait"])
    started = run_cli(["sync", "Alpha", "--no-wait", "-e", "sandbox"])

    assert refused.exit_code == 1
    assert "a write names its environment; pass -e NAME" in refused.output
    assert started.exit_code == 0, started.output


def test_a_plan_names_the_project_it_is_for(team: Project) -> None:
    """A reviewer sees which repository's identity a plan is for (JSON and Markdown)."""
    import jsonschema

    schema = json.loads(
        (Path(__file__).parents[2] / "schemas" / "plan.schema.json").read_text(encoding="utf-8")
    )
    as_json = run_cli(["plan", "--format", "json"])
    as_markdown = run_cli(["plan", "--format", "markdown"])

    document = json.loads(as_json.stdout)
    jsonschema.validate(document, schema)
    assert document["project"] == "team"
    assert "Project: `team`" in as_markdown.output
    project_file(team.root, "connectors: connectors/\n")
    unset = json.loads(run_cli(["plan", "--format", "json"]).stdout)
    jsonschema.validate(unset, schema)
    assert unset["project"] is None
    assert "Project: not set" in run_cli(["plan", "--format", "markdown"]).output


def test_the_library_refuses_a_write_without_an_identity_too(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the commands refuse, the facade they call refuses: a program built on it that
    prunes without an identity would deactivate every other project's connectors."""
    import anyio

    import reconciler

    monkeypatch.delenv("CXRECON_PROJECT")
    project.write(connector_doc("Alpha"))
    opened = reconciler.open_project(project.root)
    loaded = reconciler.load_desired(opened)
    settings = reconciler.ConnectionSettings.for_emulator(emulator.base_url)

    async def apply(**options: Any) -> reconciler.ApplyRun:
        async with reconciler.connect(settings) as client:
            return await reconciler.apply_desired(
                opened,
                client,
                loaded,
                secrets=reconciler.secrets_for(opened, emulated=True),
                options=reconciler.ApplyOptions(**options),
            )

    for options in ({}, {"prune": True}):
        with pytest.raises(ConfigError, match=r"`project:`.*cxrecon init"):
            anyio.run(functools.partial(apply, **options))
    assert write_count(emulator.control) == 0
    # A tenant nobody shares (the embedded emulator of `--emulator`) says so.
    run = anyio.run(functools.partial(apply, require_identity=False))
    assert run.report.outcome_counts()
    assert write_count(emulator.control) > 0


def test_a_cxrecon_project_the_file_overrides_is_named_on_a_write(
    team: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`project:` wins over CXRECON_PROJECT; a write where they disagree says which one it
    used (a Deployment's variable left from before the repository named its project)."""
    monkeypatch.setenv("CXRECON_PROJECT", "team-old")

    applied = run_cli(["apply", "--auto-approve"])

    assert applied.exit_code == 0, applied.output
    assert (
        "warning: CXRECON_PROJECT=team-old is not used: cxrecon.yaml names `project: team`, "
        "which wins; unset CXRECON_PROJECT or make the two agree"
    ) in applied.stderr
    assert owners(emulator) == {"Alpha": "team", "Beta": "team"}
    monkeypatch.setenv("CXRECON_PROJECT", "team")
    assert "CXRECON_PROJECT" not in run_cli(["apply", "--auto-approve"]).stderr
