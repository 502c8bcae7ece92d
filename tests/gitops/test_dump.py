"""`cxrecon dump`: a tenant becomes a schema-valid, deterministic connectors repository that
plans without field changes, with credentials as references and no secret anywhere."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from reconciler.cli.main import cli
from reconciler.config.project import load_project
from reconciler.documents.yamlwrite import yaml_scalar
from reconciler.gitops.dump import ENV_EXAMPLE, VARS_EXAMPLE, build_dump, slug
from reconciler.load.desired import load_desired
from reconciler.model import CONNECTOR_FIELDS, ConnectorSpec, RemoteConnector
from reconciler.testing import RunningEmulator

from .helpers import cli_env
from .tenant import PLAIN_CANARY, SECRET_CANARY, connectors


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def dump(emulator: RunningEmulator, *args: str) -> Result:
    return CliRunner().invoke(cli, ["dump", *args], env=cli_env(emulator))


def all_text(directory: Path) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in sorted(directory.iterdir()))


def stand_in(key: str) -> str:
    return {"tokenEndpoint": "https://login.acme.example/token", "headerName": "X-Api-Key"}.get(
        key, "value-from-the-team"
    )


def test_dump_of_50_varied_connectors_round_trips_to_a_plan_without_field_changes(
    emulator: RunningEmulator, workdir: Path
) -> None:
    tenant = connectors(50)
    for body in tenant:
        emulator.control.seed(body)
    result = dump(emulator, "--out", "connectors")
    assert result.exit_code == 0, result.output
    out = workdir / "connectors"
    files = sorted(p for p in out.iterdir() if p.suffix == ".yaml" and p.name[0] != ".")
    assert len(files) == 50
    assert {p.name for p in files} >= {"acme-crm-1.yaml", "9-legacy.yaml"}
    assert len([p for p in files if p.name.startswith("acme-crm-1")]) == 3
    text = all_text(out) + result.output
    assert SECRET_CANARY not in text
    assert PLAIN_CANARY not in text
    assert "managed-by" not in all_text(out).replace("managed-by=cxrecon", "")
    assert "cxrecon.io/" not in all_text(out)
    for path in files:
        content = path.read_text(encoding="utf-8")
        assert content.startswith("# yaml-language-server: $schema=")
        keys = list(yaml.safe_load(content))
        assert keys == [k for k in CONNECTOR_FIELDS if k in keys], path.name

    # Fill in the values CXone would not return, as the team would.
    variables = yaml.safe_load((out / VARS_EXAMPLE).read_text())["vars"]
    assert variables
    assert all(v is None for v in variables.values())
    comments = (out / VARS_EXAMPLE).read_text()
    filled = {
        name: stand_in(comments.split(f"{name}:", 1)[1].split("\n", 1)[0].rsplit(".", 1)[1])
        for name in variables
    }
    project = {
        "connectors": "connectors/",
        "environments": {"local": {"clientId": "demo-client", "vars": filled}},
    }
    (workdir / "cxrecon.yaml").write_text(json.dumps(project))
    env = load_project(workdir).environment("local")
    loaded = load_desired(out, env)
    assert loaded.errors == ()
    assert len(loaded.connectors) == 50
    assert "SALESFORCE_CONN_49_CLIENT_SECRET=" in (out / ENV_EXAMPLE).read_text()

    plan = CliRunner().invoke(cli, ["plan", "--format", "json"], env=cli_env(emulator))
    assert plan.exit_code == 0, plan.output
    changes = json.loads(plan.stdout)["changes"]
    by_name = {c["name"]: c for c in changes}
    assert len(by_name) == 50
    errored = {b["name"] for b in tenant if b["lifecycleStatus"] == "ERROR"}
    managed = {b["name"] for b in tenant if b.get("labels", {}).get("managed-by")}
    for name, change in by_name.items():
        assert change["credentials"]["status"] == "unknown", name
        paths = [f["path"] for f in change["fields"]]
        if name in errored:  # written as ACTIVE: the one lifecycle step apply retries
            assert paths == ["lifecycleStatus"], name
            assert change["fields"][0]["before"] == "ERROR"
        else:
            assert paths == [], (name, change["fields"])
            # Labelled managed-by but without a credentials fingerprint: apply records one.
            assert change["action"] == ("update" if name in managed else "adopt"), name


def test_dump_is_deterministic_whatever_the_listing_order(emulator: RunningEmulator) -> None:
    def remote(order: int) -> list[RemoteConnector]:
        bodies = connectors(20, seed=3)
        random.Random(order).shuffle(bodies)
        return [
            RemoteConnector(id=f"c-{b['name']}", etag="e", spec=ConnectorSpec.from_api(b))
            for b in bodies
        ]

    first, second = build_dump(remote(1)), build_dump(remote(2))
    assert first == second
    assert len({f.file_name for f in first.files}) == 20


def test_error_connector_is_written_as_the_requested_state_with_a_note(
    emulator: RunningEmulator, workdir: Path
) -> None:
    [body] = [b for b in connectors(50) if b["lifecycleStatus"] == "ERROR"][:1]
    emulator.control.seed(body)
    result = dump(emulator, "--out", "out", "--error-state", "INACTIVE")
    assert result.exit_code == 0, result.output
    [path] = [p for p in (workdir / "out").glob("*.yaml") if not p.name.startswith(".")]
    content = path.read_text()
    assert "# CXone reports ERROR; written as INACTIVE" in content
    assert "\nlifecycleStatus: INACTIVE\n" in content
    assert "is in ERROR in CXone; written as INACTIVE" in result.stdout


def test_dump_refuses_to_overwrite_existing_files_without_force(
    emulator: RunningEmulator, workdir: Path
) -> None:
    for body in connectors(3):
        emulator.control.seed(body)
    assert dump(emulator, "--out", "out").exit_code == 0
    target = workdir / "out" / "acme-crm-1.yaml"
    target.write_text("# edited by hand\n")
    again = dump(emulator, "--out", "out")
    assert again.exit_code == 1
    assert again.output.startswith("error: 5 file(s) already exist in out: ")
    assert "pass --force to overwrite them" in again.output
    assert "Traceback" not in again.output
    assert target.read_text() == "# edited by hand\n"
    forced = dump(emulator, "--out", "out", "--force")
    assert forced.exit_code == 0, forced.output
    assert target.read_text().startswith("# yaml-language-server:")


def test_dump_notes_other_files_already_in_the_directory(
    emulator: RunningEmulator, workdir: Path
) -> None:
    emulator.control.seed(connectors(1)[0])
    (workdir / "out").mkdir()
    (workdir / "out" / "hand-written.yaml").write_text("name: x\n")
    result = dump(emulator, "--out", "out")
    assert result.exit_code == 0, result.output
    assert "1 other connector file(s) in out were left as they are (hand-written.yaml" in (
        result.stdout
    )


def test_out_below_a_file_is_a_clear_error(emulator: RunningEmulator, workdir: Path) -> None:
    (workdir / "notes.txt").write_text("x")
    result = dump(emulator, "--out", "notes.txt/connectors")
    assert result.exit_code == 1
    assert result.output == (
        "error: cannot create notes.txt/connectors: notes.txt is not a directory; "
        "choose another --out\n"
    )
    as_file = dump(emulator, "--out", "notes.txt")
    assert as_file.exit_code == 1
    assert "--out notes.txt is a file; pass a directory" in as_file.output


@pytest.mark.skipif(not Path("/proc/sys").is_dir(), reason="needs Linux /proc")
def test_unwritable_out_is_a_clear_error(emulator: RunningEmulator, workdir: Path) -> None:
    # The kernel refuses writes to /proc/sys directories even for root, so this holds in CI
    # (which runs as root, where a chmod 555 directory would still be writable).
    result = dump(emulator, "--out", "/proc/sys/cxrecon-dump")
    assert result.exit_code == 1
    assert result.output == (
        "error: cannot write to /proc/sys: permission denied; choose another --out\n"
    )


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_out_on_a_read_only_filesystem_is_a_clear_error(
    emulator: RunningEmulator, workdir: Path
) -> None:
    emulator.control.seed(connectors(1)[0])
    result = dump(emulator, "--out", "/proc/cxrecon-dump")
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot create /proc/cxrecon-dump: ")
    assert "choose another --out" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "yes",
        "No",
        "on",
        "~",
        "null",
        "1.0",
        "1e3",
        "0x1F",
        "012",
        "2026-01-01",
        "",
        " lead",
        "trail ",
        "a: b",
        "a #b",
        "#x",
        "-x",
        "- x",
        "@x",
        "`x",
        "key:",
        "${var:x}",
        "{a}",
        "[a]",
        "multi\nline",
        "tab\there",
        "ünïcödé",
        '"quoted"',
        "'single'",
        "back\\slash",
    ],
)
def test_yaml_scalar_reads_back_as_the_same_string(value: str) -> None:
    assert yaml.safe_load(f"v: {yaml_scalar(value)}\n") == {"v": value}


def test_file_names_are_slugs_and_collisions_get_a_stable_suffix() -> None:
    assert slug("Salesforce-Prod_EU.v2") == "salesforce-prod-eu-v2"
    names = ["Foo_Bar", "foo-bar", "FOO.BAR"]
    bodies = [{**connectors(1)[0], "name": n} for n in names]
    remote = [
        RemoteConnector(id=f"c-{i}", etag="e", spec=ConnectorSpec.from_api(b))
        for i, b in enumerate(bodies)
    ]
    files = {f.connector: f.file_name for f in build_dump(remote).files}
    assert files["FOO.BAR"] == "foo-bar.yaml"  # first by name
    assert files["Foo_Bar"].startswith("foo-bar-")
    assert files["Foo_Bar"] != files["foo-bar"]
    reversed_files = {f.connector: f.file_name for f in build_dump(remote[::-1]).files}
    assert reversed_files == files


def test_secret_names_come_from_connector_and_key() -> None:
    body = {**connectors(3)[1], "name": "Salesforce-Prod"}
    assert body["authentication"]["type"] == "BASIC"
    body["authentication"] = {
        "type": "OAUTH2",
        "credentials": {"tokenEndpoint": "***", "clientId": "***", "clientSecret": "***"},
    }
    remote = RemoteConnector(id="c-1", etag="e", spec=ConnectorSpec.from_api(body))
    result = build_dump([remote])
    refs = {(r.kind, r.name) for r in result.references}
    assert refs == {
        ("env", "SALESFORCE_PROD_CLIENT_SECRET"),
        ("var", "salesforce_prod_token_endpoint"),
        ("var", "salesforce_prod_client_id"),
    }
    assert "clientSecret: ${env:SALESFORCE_PROD_CLIENT_SECRET}" in result.files[0].text
    assert "SALESFORCE_PROD_CLIENT_SECRET=\n" in result.env_example()


def test_adopting_a_dumped_tenant_end_to_end(emulator: RunningEmulator, workdir: Path) -> None:
    """dump → fill in values → apply (adopt) → plan and drift are clean."""
    tenant = [b for b in connectors(12) if b["lifecycleStatus"] != "ERROR"][:6]
    for body in tenant:
        emulator.control.seed(body)
    assert dump(emulator, "--out", "connectors").exit_code == 0
    out = workdir / "connectors"
    variables = yaml.safe_load((out / VARS_EXAMPLE).read_text())["vars"]
    comments = (out / VARS_EXAMPLE).read_text()
    filled = {
        name: stand_in(comments.split(f"{name}:", 1)[1].split("\n", 1)[0].rsplit(".", 1)[1])
        for name in variables
    }
    project = {"environments": {"local": {"clientId": "demo-client", "vars": filled}}}
    (workdir / "cxrecon.yaml").write_text(json.dumps(project))
    secrets = {
        line.rstrip("="): f"{SECRET_CANARY}set-by-team"
        for line in (out / ENV_EXAMPLE).read_text().splitlines()
        if line.endswith("=")
    }
    env = {**cli_env(emulator), **secrets}

    applied = CliRunner().invoke(cli, ["apply", "--auto-approve"], env=env)
    assert applied.exit_code == 0, applied.output
    plan = CliRunner().invoke(cli, ["plan", "--detailed-exitcode"], env=env)
    assert plan.exit_code == 0, plan.output
    drift = CliRunner().invoke(cli, ["drift"], env=env)
    assert drift.exit_code == 0, drift.output
    assert drift.stdout.startswith(f"No drift in local: {len(tenant)} managed connector(s)")
    for text in (applied.output, plan.output, drift.output):
        assert SECRET_CANARY not in text
