"""The published JSON Schemas tell the truth.

What `cxrecon validate` (schemas/connector.schema.json) accepts, the CXone API (the emulator)
accepts too, and what the API refuses, validate refuses first: a pull request never passes
validation and then fails on apply."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from reconciler.cli.main import cli
from reconciler.testing import RunningEmulator, api_client

from .inputs import FIXTURES, REPO

SECRET_VALUE = "not-a-real-password-7c1d"

#: A connector both sides accept: a YAML file for validate, a POST body for the API.
BASE: dict[str, Any] = {
    "name": "Schema-Agreement",
    "description": "Checked by both the schema and the API",
    "lifecycleStatus": "DRAFT",
    "connectorType": "CUSTOM",
    "endpointUrl": "https://crm.acme.example/api/v2",
    "authentication": {
        "type": "BASIC",
        "credentials": {"username": "integration", "password": "${env:AGREEMENT_PASSWORD}"},
    },
    "mappings": [{"cxoneField": "contact.external_id", "crmField": "id", "direction": "INBOUND"}],
    "version": "1.0.0",
}

#: (label, data path, value): each value the API refuses.
REFUSED: list[tuple[str, tuple[str, ...], Any]] = [
    ("empty description", ("description",), ""),
    ("endpoint port 99999", ("endpointUrl",), "https://crm.acme.example:99999/api/v2"),
    ("endpoint port 65536", ("endpointUrl",), "https://crm.acme.example:65536/api/v2"),
    (
        "credential value of 4,097 characters",
        ("authentication", "credentials", "username"),
        "u" * 4097,
    ),
    ("description of 2,001 characters", ("description",), "d" * 2001),
    ("version of 65 characters", ("version",), "1.0." + "1" * 61),
    ("control character in the endpoint", ("endpointUrl",), "https://crm.acme.example/a\x01b"),
    ("name of 201 characters", ("name",), "n" * 201),
    ("line break in a name", ("name",), "Two\nLines"),
]

#: The same fields at the edge of what the API takes: both sides accept them.
ACCEPTED: list[tuple[str, tuple[str | int, ...], Any]] = [
    ("one-character description", ("description",), "d"),
    ("endpoint port 65535", ("endpointUrl",), "https://crm.acme.example:65535/api/v2"),
    ("endpoint port 8443", ("endpointUrl",), "https://crm.acme.example:8443"),
    (
        "credential value of 4,096 characters",
        ("authentication", "credentials", "username"),
        "u" * 4096,
    ),
    ("description of 2,000 characters", ("description",), "d" * 2000),
    # Made in the CXone UI (issue 24): a tenant's names are valid in git as they are.
    ("unicode name", ("name",), "Kundendaten-Ünïcødé-日本"),
    ("name of 200 characters", ("name",), "n" * 200),
    ("unicode custom field", ("mappings", 0, "cxoneField"), "contact.custom.préférence"),
    ("version with leading zeros", ("version",), "01.002.3"),
    ("label value with spaces", ("labels",), {"owner": "CRM team (Köln)"}),
]


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


def _validate(doc: dict[str, Any], workdir: Path) -> tuple[int, list[dict[str, Any]]]:
    """`cxrecon validate --format json` on one connector file holding `doc`."""
    (workdir / "cxrecon.yaml").write_text("# defaults\n", encoding="utf-8")
    folder = workdir / "connectors"
    folder.mkdir(exist_ok=True)
    (folder / "agreement.yaml").write_text(
        yaml.safe_dump(doc, sort_keys=False, width=1_000_000, allow_unicode=False),
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["validate", "--format", "json"])
    report = json.loads(result.stdout)
    return result.exit_code, report["diagnostics"]


def _post(emulator: RunningEmulator, doc: dict[str, Any]) -> tuple[int, list[str]]:
    """POST `doc` to the API (the secret reference replaced by a value, as apply does)."""
    body = copy.deepcopy(doc)
    body["authentication"]["credentials"]["password"] = SECRET_VALUE
    with api_client(emulator) as client:
        response = client.post("/crm/connectors", json=body)
    details = response.json().get("details", []) if response.status_code >= 400 else []
    return response.status_code, [d["path"] for d in details]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    return tmp_path


@pytest.mark.parametrize(("label", "path", "value"), REFUSED, ids=[c[0] for c in REFUSED])
def test_what_the_api_refuses_validate_refuses(
    label: str, path: tuple[str, ...], value: Any, emulator: RunningEmulator, workdir: Path
) -> None:
    doc = _with(path, value)
    status, api_paths = _post(emulator, doc)
    assert status == 400, f"the API accepted the {label}"
    assert api_paths == ["/" + "/".join(path)]
    exit_code, diagnostics = _validate(doc, workdir)
    assert exit_code == 1, f"validate accepted the {label}"
    dotted = ".".join(path)
    assert [(d["rule"], d["message"].split(":")[0]) for d in diagnostics] == [("schema", dotted)]


@pytest.mark.parametrize(("label", "path", "value"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_what_the_api_accepts_validate_accepts(
    label: str, path: tuple[str, ...], value: Any, emulator: RunningEmulator, workdir: Path
) -> None:
    doc = _with(path, value)
    assert _post(emulator, doc) == (201, [])
    exit_code, diagnostics = _validate(doc, workdir)
    assert (exit_code, diagnostics) == (0, [])


# --- the schemas as other tools use them (editors, check-jsonschema in pre-commit/CI) -------

CONNECTOR_SCHEMA = REPO / "schemas" / "connector.schema.json"
PROJECT_SCHEMA = REPO / "schemas" / "project.schema.json"
#: The repository's own connector files and the corpus of good ones: every one is valid as
#: written (before ${var:} substitution), as an editor or check-jsonschema sees it.
GOOD_CONNECTORS = sorted((REPO / "connectors").glob("*.yaml")) + sorted(
    p for p in (FIXTURES / "good").rglob("*") if p.suffix in (".yaml", ".yml")
)
#: Files the connector schema alone refuses (the schema-* corpus of tests/fixtures/bad).
SCHEMA_FAILURES = sorted((FIXTURES / "bad").glob("schema-*.yaml"))
PROJECT_FILES = [REPO / "cxrecon.yaml", REPO / "tests/gitops/fixtures/project/cxrecon.yaml"]


def check_jsonschema(schema: Path, files: list[Path], *options: str) -> dict[str, Any]:
    """Run the check-jsonschema CLI (test extra) on `files`, offline: the schema by its local
    path, and every proxy pointed at a closed port so any download would fail loudly."""
    offline = "http://127.0.0.1:9"
    env = {**os.environ, "HTTP_PROXY": offline, "HTTPS_PROXY": offline, "NO_PROXY": ""}
    env.update(http_proxy=offline, https_proxy=offline, no_proxy="")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--output-format",
            "json",
            "--schemafile",
            str(schema),
            *options,
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.stdout, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    assert report.get("parse_errors", []) == [], report
    return report


def test_the_repository_connectors_and_good_fixtures_pass_check_jsonschema() -> None:
    assert len(GOOD_CONNECTORS) >= 8
    report = check_jsonschema(CONNECTOR_SCHEMA, GOOD_CONNECTORS)
    assert (report["status"], report["errors"]) == ("ok", [])


def test_the_schema_failures_of_the_corpus_fail_check_jsonschema_too() -> None:
    assert len(SCHEMA_FAILURES) >= 10
    report = check_jsonschema(CONNECTOR_SCHEMA, SCHEMA_FAILURES)
    refused = {Path(e["filename"]).name for e in report["errors"]}
    assert refused == {p.name for p in SCHEMA_FAILURES}


def test_the_project_files_pass_check_jsonschema() -> None:
    report = check_jsonschema(PROJECT_SCHEMA, PROJECT_FILES)
    assert (report["status"], report["errors"]) == ("ok", [])


#: URLs as the descriptions of endpointUrl and tokenEndpoint allow them: ${var:} anywhere.
WITH_VARS = [
    "${var:salesforce_instance_url}/services/data/v60.0",
    "${var:org_url}",
    "https://${var:tenant}.my.salesforce.com/services/data/v60.0",
    "https://acme.${var:domain}:${var:port}/api",
    "https://login.microsoftonline.com/${var:tenant_id}/oauth2/v2.0/token",
    "${var:crm_url}:8443/api",
]
#: Not URLs the API takes, with or without references.
NOT_URLS = [
    "https://crm.acme.example:99999/api",
    "ftp://crm.acme.example/api",
    "https:// crm.acme.example/api",
    "${env:CRM_URL}/api",
    "${var:}/api",
]


def _url_files(folder: Path, urls: list[str]) -> list[Path]:
    paths = []
    for i, url in enumerate(urls):
        doc = copy.deepcopy(BASE)
        doc["endpointUrl"] = url
        doc["authentication"] = {
            "type": "OAUTH2",
            "credentials": {
                "tokenEndpoint": url,
                "clientId": "client",
                "clientSecret": "${env:CLIENT_SECRET}",
            },
        }
        path = folder / f"url-{i}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        paths.append(path)
    return paths


def test_var_references_are_allowed_wherever_the_description_says(tmp_path: Path) -> None:
    report = check_jsonschema(CONNECTOR_SCHEMA, _url_files(tmp_path, WITH_VARS))
    assert (report["status"], report["errors"]) == ("ok", [])


def test_what_is_not_a_url_is_still_refused(tmp_path: Path) -> None:
    files = _url_files(tmp_path, NOT_URLS)
    report = check_jsonschema(CONNECTOR_SCHEMA, files)
    refused = sorted((Path(e["filename"]).name, e["path"]) for e in report["errors"])
    # tokenEndpoint is any text to the API: lint warns (credential-form), the schema does not.
    assert refused == sorted((path.name, "$.endpointUrl") for path in files)


# --- the saved plan (`cxrecon plan --out FILE`) as a whole -----------------------------

SAVED_PLAN_SCHEMA = REPO / "schemas" / "saved-plan.schema.json"


def _schema(path: Path) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def saved_plan_validator() -> Draft202012Validator:
    """The saved-plan schema with the schemas it references, by their `$id`s (no network)."""
    others = [_schema(REPO / "schemas" / name) for name in ("plan.schema.json",)]
    others.append(_schema(CONNECTOR_SCHEMA))
    registry: Registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in others
    )
    schema = _schema(SAVED_PLAN_SCHEMA)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=registry)


@pytest.fixture(scope="module")
def saved_plan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real saved plan: the repository's connectors applied to an embedded emulator, then
    one edited, one removed, one added, and `cxrecon plan --prune --out plan.json`."""
    root = tmp_path_factory.mktemp("saved-plan")
    shutil.copytree(REPO / "connectors", root / "connectors")
    shutil.copyfile(REPO / "cxrecon.yaml", root / "cxrecon.yaml")
    (root / ".git").mkdir()
    env = {"NO_COLOR": "1", "GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": ""}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        applied = CliRunner().invoke(cli, ["apply", "--emulator", "--auto-approve"], env=env)
        assert applied.exit_code == 0, applied.output
        salesforce = root / "connectors" / "salesforce-contacts.yaml"
        salesforce.write_text(
            salesforce.read_text(encoding="utf-8").replace("batchSize: 500", "batchSize: 250"),
            encoding="utf-8",
        )
        (root / "connectors" / "support-desk-cases.yaml").unlink()
        (root / "connectors" / "new.yaml").write_text(
            yaml.safe_dump({**BASE, "name": "Brand-New"}, sort_keys=False), encoding="utf-8"
        )
        planned = CliRunner().invoke(
            cli, ["plan", "--emulator", "--prune", "--out", "plan.json"], env=env
        )
        assert planned.exit_code == 0, planned.output
        document: dict[str, Any] = json.loads((root / "plan.json").read_text(encoding="utf-8"))
    return document


def test_a_real_saved_plan_is_valid_against_the_published_schema(
    saved_plan: dict[str, Any],
) -> None:
    assert saved_plan["source"] == {"path": None}
    actions = {(c["action"], c["remote"] is None) for c in saved_plan["connectors"]}
    assert {("create", True), ("update", False), ("deactivate", False)} <= actions
    errors = [e.message for e in saved_plan_validator().iter_errors(saved_plan)]
    assert errors == []


def test_check_jsonschema_reads_a_saved_plan_offline_with_the_local_schemas(
    saved_plan: dict[str, Any], tmp_path: Path
) -> None:
    # The schema's `$ref`s are relative ("plan.schema.json"): with --base-uri they resolve to
    # the files beside it, so a CI job can check a plan artifact without any network.
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(saved_plan), encoding="utf-8")
    base = SAVED_PLAN_SCHEMA.resolve().as_uri()
    report = check_jsonschema(SAVED_PLAN_SCHEMA, [path], "--base-uri", base)
    assert (report["status"], report["errors"]) == ("ok", [])


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d.__setitem__("kind", "terraform-plan"),
        lambda d: d.__setitem__("formatVersion", 1),
        lambda d: d.pop("checksum"),
        lambda d: d.__setitem__("checksum", "md5:abc"),
        lambda d: d.__setitem__("extra", True),
        lambda d: d["plan"].pop("summary"),
        lambda d: d["connectors"][0].__setitem__("action", "delete"),
        lambda d: d["connectors"][0].__setitem__("remote", {"id": "x"}),
        lambda d: _desired(d)["spec"]["authentication"]["credentials"].__setitem__(
            "clientSecret", "a-literal-secret"
        ),
        lambda d: _desired(d).__setitem__("source", "salesforce-contacts.yaml"),
        lambda d: d.__setitem__("source", {"root": "."}),
    ],
    ids=[
        "kind",
        "formatVersion",
        "no checksum",
        "checksum algorithm",
        "unknown key",
        "plan without summary",
        "unknown action",
        "pin without etag",
        "secret value in the spec",
        "source without line:col",
        "plan source without path",
    ],
)
def test_the_schema_refuses_a_tampered_saved_plan(saved_plan: dict[str, Any], tamper: Any) -> None:
    document = copy.deepcopy(saved_plan)
    tamper(document)
    assert list(saved_plan_validator().iter_errors(document)) != []


def _desired(document: dict[str, Any]) -> dict[str, Any]:
    """The desired record of the OAUTH2 connector that the plan updates."""
    for entry in document["connectors"]:
        desired = entry["desired"]
        if desired and desired["spec"]["authentication"]["type"] == "OAUTH2":
            record: dict[str, Any] = desired
            return record
    raise AssertionError("no OAUTH2 connector in the saved plan")
