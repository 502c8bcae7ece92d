"""`cxrecon init`: a folder (and a live tenant) becomes a team's connectors repository that
validates, plans only the adoption, and carries workflows for exactly its environments and
secrets; nothing is overwritten without --force, and no secret value is ever written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from gitops.tenant import SECRET_CANARY, connectors

from reconciler.cli.main import cli
from reconciler.testing import RunningEmulator

#: Made in the CXone UI: a name and fields cxrecon once refused.
UNICODE = {
    "name": "Kundendaten-Ünïcødé-日本",
    "lifecycleStatus": "ACTIVE",
    "connectorType": "CUSTOM",
    "endpointUrl": "https://crm.example/api",
    "authentication": {"type": "API_KEY", "credentials": {"apiKey": SECRET_CANARY + "u"}},
    "mappings": [
        {
            "cxoneField": "contact.custom.préférence",
            "crmField": "crm_feld_00_ß",
            "direction": "INBOUND",
        }
    ],
}


def env_of(emulator: RunningEmulator) -> dict[str, str]:
    return {
        "CXONE_BASE_URL": emulator.base_url,
        "CXONE_CLIENT_ID": "demo-client",
        "CXONE_CLIENT_SECRET": "demo-secret",
        "NO_COLOR": "1",
    }


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env or {})


def every_file(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".cxrecon" not in p.parts
    }


@pytest.fixture
def tenant(emulator: RunningEmulator) -> RunningEmulator:
    # UI-made connectors: none carries a label of an earlier cxrecon (the seed marks a few).
    for body in connectors(12):
        if "managed-by" not in body.get("labels", {}):
            emulator.control.seed(body)
    emulator.control.seed(UNICODE)
    return emulator


def test_init_from_a_tenant_validates_and_plans_only_the_adoption(
    tenant: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CXRECON_PROJECT")  # the identity comes from cxrecon.yaml alone
    env = env_of(tenant)
    result = invoke(
        "init", "team", "--project", "acme-crm", "--from-tenant", "-e", "sandbox",
        "-e", "production", env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    root = tmp_path / "team"
    written = every_file(root)
    assert {"cxrecon.yaml", ".gitignore", ".env.example", "README.md"} <= set(written)
    assert len([n for n in written if n.startswith("connectors/")]) == 12
    project = yaml.safe_load(written["cxrecon.yaml"])
    assert project["project"] == "acme-crm"
    assert list(project["environments"]) == ["sandbox", "production"]
    assert project["environments"]["sandbox"] == {
        "baseUrl": tenant.base_url,
        "clientId": "demo-client",
    }
    assert ".cxrecon/" in written[".gitignore"].splitlines()
    # Not one secret value, anywhere (the connection's nor a connector's).
    for name, text in written.items():
        assert "demo-secret" not in text, name
        assert SECRET_CANARY not in text, name

    monkeypatch.chdir(root)
    validated = invoke("validate", env=env)
    assert validated.exit_code == 0, validated.output
    planned = invoke("plan", "-e", "sandbox", "--format", "json", env=env)
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.output)
    assert {c["action"] for c in plan["changes"]} == {"adopt"}
    assert len(plan["changes"]) == 12
    assert "Kundendaten-Ünïcødé-日本" in {c["name"] for c in plan["changes"]}


def test_the_workflows_name_exactly_the_secrets_the_connectors_reference(
    tenant: RunningEmulator, tmp_path: Path
) -> None:
    result = invoke(
        "init", str(tmp_path / "r"), "--project", "p", "--from-tenant", "-e", "stage",
        "-e", "live", env=env_of(tenant),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    root = tmp_path / "r"
    referenced = {
        name
        for path in (root / "connectors").glob("*.yaml")
        for name in re.findall(r"\$\{env:([^}]+)\}", path.read_text(encoding="utf-8"))
    }
    assert referenced  # the seeded tenant has secret credentials
    apply_env = (root / ".github/workflows/apply-environment.yml").read_text(encoding="utf-8")
    workflow = yaml.safe_load(apply_env)
    step = next(s for s in workflow["jobs"]["apply"]["steps"] if s.get("name") == "Apply")
    mapped = {k for k, v in step["env"].items() if "secrets." in v} - {
        "CXONE_CLIENT_ID",
        "CXONE_CLIENT_SECRET",
    }
    assert mapped == referenced
    plan = yaml.safe_load((root / ".github/workflows/plan.yml").read_text(encoding="utf-8"))
    assert plan["jobs"]["plan"]["strategy"]["matrix"]["environment"] == ["stage", "live"]
    jobs = yaml.safe_load((root / ".github/workflows/apply.yml").read_text(encoding="utf-8"))
    assert list(jobs["jobs"]) == ["stage", "live"]
    assert jobs["jobs"]["live"]["needs"] == "stage"
    readme = (root / "README.md").read_text(encoding="utf-8")
    # `live` has no tenant in cxrecon.yaml yet: the team is told to give it one.
    assert "- `live`: cxrecon.yaml names no tenant yet." in readme
    assert "`stage`: cxrecon.yaml names no tenant" not in readme
    for name in referenced:
        assert name in readme
        assert f"{name}=" in (root / ".env.example").read_text(encoding="utf-8")


def test_existing_files_are_listed_and_kept_without_force(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "README.md").write_text("ours\n", encoding="utf-8")
    (root / "cxrecon.yaml").write_text("connectors: x/\n", encoding="utf-8")
    before = every_file(root)
    result = invoke("init", str(root), "--project", "p")
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert "cxrecon.yaml" in line
    assert "README.md" in line
    assert "--force" in line
    assert every_file(root) == before

    forced = invoke("init", str(root), "--project", "p", "--force")
    assert forced.exit_code == 0, forced.output
    assert (root / "README.md").read_text(encoding="utf-8") != "ours\n"


def test_an_existing_gitignore_is_completed_not_replaced(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("node_modules/\n", encoding="utf-8")
    result = invoke("init", str(tmp_path), "--project", "p")
    assert result.exit_code == 0, result.output
    lines = (tmp_path / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "node_modules/"
    assert ".cxrecon/" in lines
    assert ".env" in lines
    again = invoke("init", str(tmp_path), "--project", "p", "--force")
    assert again.exit_code == 0, again.output
    assert (tmp_path / ".gitignore").read_text(encoding="utf-8").splitlines() == lines


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--project", "has space"), "--project"),
        (("--project", "p", "-e", "a b"), "environment"),
        (("--project", "p", "-e", "a", "-e", "a"), "twice"),
    ],
)
def test_bad_names_are_one_line_and_write_nothing(
    tmp_path: Path, args: tuple[str, ...], needle: str
) -> None:
    root = tmp_path / "new"
    result = invoke("init", str(root), *args)
    assert result.exit_code == 1
    assert needle in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not root.exists()


def test_an_unreachable_tenant_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "new"
    env = {
        "CXONE_BASE_URL": "http://127.0.0.1:9/api/v2",
        "CXONE_CLIENT_ID": "c",
        "CXONE_CLIENT_SECRET": "CANARY-init-secret",
    }
    result = invoke("init", str(root), "--project", "p", "--from-tenant", env=env)
    assert result.exit_code == 1
    assert "CANARY-init-secret" not in result.output
    assert not root.exists() or every_file(root) == {}


def test_without_a_tenant_the_connection_of_the_environment_is_recorded(tmp_path: Path) -> None:
    env = {"CXONE_BASE_URL": "https://api.example/api/v2/", "CXONE_CLIENT_ID": "cx-ci"}
    result = invoke("init", str(tmp_path), "--project", "p", "-e", "sandbox", env=env)
    assert result.exit_code == 0, result.output
    project = yaml.safe_load((tmp_path / "cxrecon.yaml").read_text(encoding="utf-8"))
    assert project["environments"] == {
        "sandbox": {"baseUrl": "https://api.example/api/v2", "clientId": "cx-ci"}
    }
    assert (tmp_path / "connectors" / ".gitkeep").exists()


def test_with_the_emulator_the_environment_is_local_and_points_at_it(tmp_path: Path) -> None:
    result = invoke("init", str(tmp_path / "r"), "--project", "p", "--emulator", "--from-tenant")
    assert result.exit_code == 0, result.output
    project = yaml.safe_load((tmp_path / "r" / "cxrecon.yaml").read_text(encoding="utf-8"))
    assert project["environments"] == {
        "local": {"baseUrl": "http://127.0.0.1:8787/api/v2", "clientId": "demo-client"}
    }
    assert project["defaultEnvironment"] == "local"


def test_secret_files_are_git_ignored(tmp_path: Path) -> None:
    (tmp_path / "connectors").mkdir()
    text = "name: A\nauthentication:\n  credentials:\n    apiKey: ${file:.secrets/a-key}\n"
    (tmp_path / "connectors" / "a.yaml").write_text(text, encoding="utf-8")
    result = invoke("init", str(tmp_path), "--project", "p")
    assert result.exit_code == 0, result.output
    assert "/.secrets/a-key" in (tmp_path / ".gitignore").read_text(encoding="utf-8").splitlines()
    apply = (tmp_path / ".github/workflows/apply-environment.yml").read_text(encoding="utf-8")
    assert "A_KEY: ${{ secrets.A_KEY }}" in apply
    assert "> .secrets/a-key" in apply


def test_the_schema_hints_resolve_offline_in_the_project(tmp_path: Path) -> None:
    """A pip install has no schemas/ folder beside cxrecon.yaml: the `$schema` line of every
    file init writes names a file init wrote into the project, never a URL."""
    root = tmp_path / "r"
    result = invoke("init", str(root), "--project", "p", "--emulator", "--from-tenant")
    assert result.exit_code == 0, result.output
    hints = {
        path: re.search(r"\$schema=(\S+)", text)
        for path, text in every_file(root).items()
        if path == "cxrecon.yaml" or path.startswith("connectors/")
    }
    assert hints["cxrecon.yaml"] is not None
    for path, hint in hints.items():
        if hint is None:
            continue
        target = (root / path).parent / hint.group(1)
        assert target.is_file(), (path, hint.group(1))
        json.loads(target.read_text(encoding="utf-8"))
    assert (root / "schemas" / "project.schema.json").is_file()


def listing(folder: Path) -> dict[str, str]:
    """Every entry under `folder`, links not followed (a link as its target)."""
    return {
        p.relative_to(folder).as_posix(): (f"-> {p.readlink()}" if p.is_symlink() else p.name)
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize(
    "planted",
    [".gitignore", "connectors", "connectors/kept.yaml", ".github"],
    ids=["gitignore", "connectors", "a-connector-file", "github"],
)
def test_a_link_committed_where_init_reads_or_writes_is_one_line_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, planted: str
) -> None:
    """A repository adopting cxrecon holds links (issue 22, break 5): init refuses in one
    line (no traceback), writes nothing (not even a folder) and never writes through one."""
    root, outside = tmp_path / "repo", tmp_path / "outside"
    root.mkdir()
    (outside / "folder").mkdir(parents=True)
    (outside / ".bashrc").write_text("export PATH=$HOME/bin:$PATH\n", encoding="utf-8")
    (outside / "folder" / "kept.yaml").write_text("name: Kept\n", encoding="utf-8")
    link = root / planted
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside / ("folder" if planted in ("connectors", ".github") else ".bashrc"))
    monkeypatch.chdir(root)
    before, around = listing(root), listing(outside)

    result = invoke("init", ".", "--project", "p")

    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert planted.split("/")[0] in lines[0]
    assert "symbolic link" in lines[0]
    assert listing(root) == before
    assert listing(outside) == around
    assert (outside / ".bashrc").read_text(encoding="utf-8").startswith("export PATH")
