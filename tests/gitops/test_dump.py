"""`cxrecon dump`: a tenant becomes a schema-valid, deterministic connectors repository that
plans without field changes, with credentials as references and no secret anywhere."""

from __future__ import annotations

import json
import random
import re
from importlib import resources
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from reconciler.cli.main import cli
from reconciler.documents.yamlwrite import yaml_scalar
from reconciler.gitops.dump import build_dump
from reconciler.gitops.dump_names import slug
from reconciler.gitops.dump_yaml import ENV_EXAMPLE
from reconciler.load.desired import read_desired
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


def stand_in(variable: str) -> str:
    """A value the team would set for a variable `cxrecon dump` named."""
    if variable.endswith("_TOKEN_ENDPOINT"):
        return "https://login.acme.example/token"
    if variable.endswith("_HEADER_NAME"):
        return "X-Api-Key"
    return f"{SECRET_CANARY}set-by-team"


def test_a_dump_of_50_varied_connectors_validates_and_plans_as_it_is(
    emulator: RunningEmulator, workdir: Path
) -> None:
    """No hand edits between dump and plan: every secret credential (writeOnly in the
    connector schema, masked by CXone) is a `${env:}` reference, every other credential a
    literal, validate passes, and the plan adopts without field changes."""
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
    assert PLAIN_CANARY in all_text(out)  # user names, client ids, token URLs: as CXone has them
    assert "managed-by" not in all_text(out).replace("managed-by=cxrecon", "")
    assert "cxrecon.io/" not in all_text(out)
    assert "${var:" not in all_text(out)
    assert not (out / ".cxrecon-vars.example.yaml").exists()
    for path in files:
        content = path.read_text(encoding="utf-8")
        assert content.startswith("# yaml-language-server: $schema=")
        keys = list(yaml.safe_load(content))
        assert keys == [k for k in CONNECTOR_FIELDS if k in keys], path.name

    # Every reference is named in .env.example and in the summary: one per secret value.
    example = (out / ENV_EXAMPLE).read_text()
    written = "".join(p.read_text(encoding="utf-8") for p in files)
    referenced = sorted(set(re.findall(r"\$\{env:([A-Z0-9_]+)\}", written)))
    listed = sorted(line[:-1] for line in example.splitlines() if line.endswith("="))
    assert referenced == listed
    assert "SALESFORCE_CONN_49_CLIENT_SECRET" in listed
    assert "SALESFORCE_CONN_49_CLIENT_ID" not in listed
    assert "SALESFORCE_CONN_49_TOKEN_ENDPOINT" not in listed
    secret = re.compile(r"_(CLIENT_SECRET|PASSWORD|API_KEY)(_[0-9A-F]+)?$")
    assert all(secret.search(name) for name in listed), listed
    for name in listed:
        assert name in result.stdout
    words = " ".join(result.stdout.split())
    assert "before the first `cxrecon apply` that writes credentials" in words
    assert "Not secret" not in result.stdout
    assert "validation finding" not in result.stdout

    validated = CliRunner().invoke(cli, ["validate", "connectors"], env=cli_env(emulator))
    assert validated.exit_code == 0, validated.output
    loaded = read_desired(out)
    assert loaded.errors == ()
    assert len(loaded.connectors) == 50

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
    assert again.output.startswith("error: 4 file(s) already exist in out: ")
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


def test_reference_names_come_from_connector_and_key() -> None:
    body = {**connectors(3)[1], "name": "Salesforce-Prod"}
    assert body["authentication"]["type"] == "BASIC"
    body["authentication"] = {
        "type": "OAUTH2",
        "credentials": {"tokenEndpoint": "***", "clientId": "***", "clientSecret": "***"},
    }
    remote = RemoteConnector(id="c-1", etag="e", spec=ConnectorSpec.from_api(body))
    result = build_dump([remote])
    refs = {(r.name, r.secret) for r in result.references}
    assert refs == {
        ("SALESFORCE_PROD_CLIENT_SECRET", True),
        ("SALESFORCE_PROD_TOKEN_ENDPOINT", False),
        ("SALESFORCE_PROD_CLIENT_ID", False),
    }
    text = result.files[0].text
    assert "clientSecret: ${env:SALESFORCE_PROD_CLIENT_SECRET}" in text
    assert "clientId: ${env:SALESFORCE_PROD_CLIENT_ID}" in text
    assert "tokenEndpoint: ${env:SALESFORCE_PROD_TOKEN_ENDPOINT}" in text
    assert "SALESFORCE_PROD_CLIENT_SECRET=\n" in result.env_example()
    assert "SALESFORCE_PROD_CLIENT_ID=\n" in result.env_example()


def test_a_value_cxone_returns_in_clear_is_kept() -> None:
    body = {**connectors(1)[0], "name": "Custom-Key"}
    body["authentication"] = {
        "type": "API_KEY",
        "credentials": {"apiKey": "***", "headerName": "X-Api-Key"},
    }
    remote = RemoteConnector(id="c-1", etag="e", spec=ConnectorSpec.from_api(body))
    result = build_dump([remote])
    assert [r.name for r in result.references] == ["CUSTOM_KEY_API_KEY"]
    assert "headerName: X-Api-Key" in result.files[0].text


def test_adopting_a_dumped_tenant_end_to_end(emulator: RunningEmulator, workdir: Path) -> None:
    """dump → set the values it names → apply (adopt) → plan and drift are clean."""
    tenant = [b for b in connectors(12) if b["lifecycleStatus"] != "ERROR"][:6]
    for body in tenant:
        emulator.control.seed(body)
    assert dump(emulator, "--out", "connectors").exit_code == 0
    out = workdir / "connectors"
    secrets = {
        line.rstrip("="): stand_in(line.rstrip("="))
        for line in (out / ENV_EXAMPLE).read_text().splitlines()
        if line.endswith("=")
    }
    env = {**cli_env(emulator), **secrets}
    project = {"environments": {"local": {"clientId": "demo-client"}}}
    (workdir / "cxrecon.yaml").write_text(json.dumps(project))
    # Without the values, apply (which writes the credentials it adopts) names them.
    missing = CliRunner().invoke(cli, ["apply", "--auto-approve"], env=cli_env(emulator))
    assert missing.exit_code == 1
    assert re.search(r"_(CLIENT_SECRET|PASSWORD|API_KEY) is not set", missing.output)

    applied = CliRunner().invoke(cli, ["apply", "--auto-approve"], env=env)
    assert applied.exit_code == 0, applied.output
    plan = CliRunner().invoke(cli, ["plan", "--detailed-exitcode"], env=env)
    assert plan.exit_code == 0, plan.output
    drift = CliRunner().invoke(cli, ["drift"], env=env)
    assert drift.exit_code == 0, drift.output
    assert drift.stdout.startswith(f"No drift in local: {len(tenant)} managed connector(s)")
    for text in (applied.output, plan.output, drift.output):
        assert SECRET_CANARY not in text


def test_variable_names_never_name_cxrecons_or_the_runners_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    bodies = [
        {**connectors(1)[0], "name": "CXone-Mirror"},
        {**connectors(1)[0], "name": "Github_Issues"},
        {**connectors(1)[0], "name": "Actions-Feed"},
    ]
    for body in bodies:
        body["authentication"] = {
            "type": "BASIC",
            "credentials": {"username": "***", "password": "***"},
        }
    remote = [
        RemoteConnector(id=f"c-{i}", etag="e", spec=ConnectorSpec.from_api(b))
        for i, b in enumerate(bodies)
    ]
    result = build_dump(remote)
    assert sorted(r.name for r in result.references) == [
        "CRM_ACTIONS_FEED_PASSWORD",
        "CRM_ACTIONS_FEED_USERNAME",
        "CRM_CXONE_MIRROR_PASSWORD",
        "CRM_CXONE_MIRROR_USERNAME",
        "CRM_GITHUB_ISSUES_PASSWORD",
        "CRM_GITHUB_ISSUES_USERNAME",
    ]
    for f in result.files:
        (tmp_path / f.file_name).write_text(f.text, encoding="utf-8")
    assert read_desired(tmp_path).diagnostics == ()


def test_connectors_another_project_manages_are_noted(emulator: RunningEmulator) -> None:
    bodies = connectors(3)
    for body, project in zip(bodies, ("billing", "billing", None), strict=True):
        body["labels"] = {"managed-by": "cxrecon"}
        if project:
            body["labels"]["cxrecon.io/project"] = project
    remote = [
        RemoteConnector(id=f"c-{i}", etag="e", spec=ConnectorSpec.from_api(b))
        for i, b in enumerate(bodies)
    ]
    notes = build_dump(remote).notes
    assert notes == (
        "2 connector(s) (acme-crm-1-aacd6c.yaml, acme-crm-1-ebe46e.yaml) are managed by cxrecon "
        "project 'billing': set `project: billing` in cxrecon.yaml to go on managing them "
        "from here (a plan under another project id reports them as that project's)",
    )


@pytest.mark.parametrize(
    ("name", "key", "variable"),
    [
        ("HubSpot-Lead-Import", "apiKey", "HUBSPOT_LEAD_IMPORT_API_KEY"),
        ("HubSpot", "clientSecret", "HUBSPOT_CLIENT_SECRET"),
        ("NetSuite ERP", "tokenEndpoint", "NETSUITE_ERP_TOKEN_ENDPOINT"),
        ("ServiceNow.v2", "clientId", "SERVICENOW_V2_CLIENT_ID"),
        ("Salesforce-Prod_EU", "clientSecret", "SALESFORCE_PROD_EU_CLIENT_SECRET"),
        ("SAP-S4HANA", "password", "SAP_S4HANA_PASSWORD"),
        ("GitHub_Issues", "password", "CRM_GITHUB_ISSUES_PASSWORD"),
        ("9-Legacy", "apiKey", "CONNECTOR_9_LEGACY_API_KEY"),
    ],
)
def test_variable_names_split_the_name_at_its_separators_and_the_key_at_case_changes(
    name: str, key: str, variable: str
) -> None:
    auth = {
        "apiKey": ("API_KEY", {"apiKey": "***"}),
        "password": ("BASIC", {"username": "u", "password": "***"}),
    }.get(key, ("OAUTH2", {"tokenEndpoint": "***", "clientId": "***", "clientSecret": "***"}))
    body = {**connectors(1)[0], "name": name}
    body["authentication"] = {"type": auth[0], "credentials": auth[1]}
    remote = RemoteConnector(id="c-1", etag="e", spec=ConnectorSpec.from_api(body))
    names = {r.key: r.name for r in build_dump([remote]).references}
    assert names[key] == variable


def schema_line(path: Path) -> str:
    return path.read_text(encoding="utf-8").splitlines()[0]


def test_the_schema_line_points_at_the_projects_schema_folder(
    emulator: RunningEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relative from the written files to <project>/schemas/connector.schema.json, as the
    repository's own connectors/*.yaml write it."""
    emulator.control.seed(connectors(1)[0])
    result = dump(emulator, "--out", "connectors")
    assert result.exit_code == 0, result.output
    # A pip install has no schemas/ folder to point at: the project gets the packaged copy.
    assert "Wrote schemas/connector.schema.json" in result.stdout
    packaged = resources.files("reconciler.schemas").joinpath("connector.schema.json")
    copied = workdir / "schemas/connector.schema.json"
    assert copied.read_bytes() == packaged.read_bytes()
    [first] = (workdir / "connectors").glob("*.yaml")
    assert schema_line(first) == "# yaml-language-server: $schema=../schemas/connector.schema.json"
    assert dump(emulator, "--out", "teams/crm/connectors").exit_code == 0
    [deep] = (workdir / "teams/crm/connectors").glob("*.yaml")
    assert schema_line(deep) == (
        "# yaml-language-server: $schema=../../../schemas/connector.schema.json"
    )
    # From a subfolder of the project (cxrecon.yaml is found above), still the project's.
    (workdir / "cxrecon.yaml").write_text("connectors: connectors/\n")
    (workdir / "sub").mkdir()
    monkeypatch.chdir(workdir / "sub")
    assert dump(emulator, "--out", "here").exit_code == 0
    [nested] = (workdir / "sub/here").glob("*.yaml")
    assert (
        schema_line(nested) == "# yaml-language-server: $schema=../../schemas/connector.schema.json"
    )
    copied.write_text("{}")  # the project's own copy is the project's: never overwritten
    assert "Wrote schemas/" not in dump(emulator, "--out", "again").stdout
    assert copied.read_text() == "{}"
    url = "https://cxrecon.dev/schemas/connector.schema.json"
    assert dump(emulator, "--out", "url", "--schema-ref", url).exit_code == 0
    [pinned] = (workdir / "sub/url").glob("*.yaml")
    assert schema_line(pinned) == f"# yaml-language-server: $schema={url}"


def test_the_repositorys_own_files_use_the_dump_default() -> None:
    from reconciler.gitops.dump_yaml import SCHEMA_REF

    root = Path(__file__).parents[2]
    for path in sorted((root / "connectors").glob("*.yaml")):
        assert schema_line(path) == f"# yaml-language-server: $schema={SCHEMA_REF}", path.name
    assert (root / "connectors" / SCHEMA_REF).resolve() == (
        root / "schemas" / "connector.schema.json"
    )


def test_the_facade_dumps_with_the_published_schema_unless_told_otherwise() -> None:
    import asyncio

    from reconciler.facade import dump_tenant
    from reconciler.gitops.dump_yaml import SCHEMA_REF

    class Tenant:
        async def list_connectors(self) -> list[RemoteConnector]:
            body = connectors(1)[0]
            return [RemoteConnector(id="c-1", etag="e", spec=ConnectorSpec.from_api(body))]

    default = asyncio.run(dump_tenant(Tenant()))
    assert SCHEMA_REF in default.files[0].text
    mine = asyncio.run(dump_tenant(Tenant(), schema_ref="./schemas/connector.schema.json"))
    assert "./schemas/connector.schema.json" in mine.files[0].text
    assert SCHEMA_REF not in mine.files[0].text
