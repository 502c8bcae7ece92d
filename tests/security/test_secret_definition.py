"""One definition of "secret" (issue 22 break 2, issue 24): the credential fields the connector
schema marks `writeOnly`. The emulator masks exactly those on read and its OpenAPI document
says so; plans (text, Markdown, JSON, saved), dumps, drift and the audit log mask exactly
those and show everything else in clear, a secret by its reference. No masking by the sound
of a name: a mapping to `contact.custom.sso_token` is shown as it is.

Canary values stand for the secrets: they reach the emulator and nothing else."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result

from reconciler.cli.main import cli
from reconciler.controller.page.connectors import field_rows
from reconciler.model import ConnectorSpec
from reconciler.plan.diff import ChangeKind, FieldChange, diff_essences, safe_values
from reconciler.plan.essence import Essence, essence_of
from reconciler.secret import (
    MASK,
    credential_fields,
    is_secret_field,
    is_secret_path,
    looks_secret,
    mask_value,
    secret_fields,
)
from reconciler.testing import RunningEmulator

SCHEMAS: Final = files("reconciler.schemas")
SERVER_MASK: Final = "********"
#: Secret values, by environment variable: each must reach CXone and no output or file.
CANARIES: Final = {
    "CRM_PASSWORD": "canary-password-4e2b9d",
    "CRM_CLIENT_SECRET": "canary-client-secret-77a0c1",
    "CRM_API_KEY": "canary-api-key-0b5e6f",
}
#: Credentials that are not secret: shown in clear everywhere.
PLAIN: Final = {
    "username": "crm-integration-user",
    "tokenEndpoint": "https://login.crm.example/oauth2/token",
    "clientId": "3MVG9-plain-client-id",
    "scope": "api refresh_token",
    "audience": "https://crm.example/api",
    "headerName": "X-Crm-Key",
}


def connector(name: str, auth_type: str, **overrides: Any) -> dict[str, Any]:
    credentials = {
        "BASIC": {"username": PLAIN["username"], "password": "${env:CRM_PASSWORD}"},
        "OAUTH2": {
            "tokenEndpoint": PLAIN["tokenEndpoint"],
            "clientId": PLAIN["clientId"],
            "clientSecret": "${env:CRM_CLIENT_SECRET}",
            "scope": PLAIN["scope"],
            "audience": PLAIN["audience"],
        },
        "API_KEY": {"apiKey": "${env:CRM_API_KEY}", "headerName": PLAIN["headerName"]},
    }[auth_type]
    doc: dict[str, Any] = {
        "name": name,
        "description": f"{name} connector",
        "lifecycleStatus": "ACTIVE",
        "connectorType": "CUSTOM",
        "endpointUrl": f"https://{name.lower()}.crm.example/api",
        "authentication": {"type": auth_type, "credentials": credentials},
        "mappings": [
            {"cxoneField": "contact.external_id", "crmField": "id", "direction": "INBOUND"},
            {
                "cxoneField": "contact.custom.sso_token",
                "crmField": "Sso_Token__c",
                "direction": "INBOUND",
            },
        ],
        "labels": {"team": "crm"},
    }
    doc.update(overrides)
    return doc


DOCS: Final = (
    connector("Basic-Crm", "BASIC"),
    connector("Oauth-Crm", "OAUTH2"),
    connector("Key-Crm", "API_KEY"),
)


# --- the definition -------------------------------------------------------------------


def test_secret_is_what_the_connector_schema_marks_write_only() -> None:
    schema = json.loads(SCHEMAS.joinpath("connector.schema.json").read_text())
    marked = {
        key
        for name in ("basicCredentials", "oauth2Credentials", "apiKeyCredentials")
        for key, prop in schema["$defs"][name]["properties"].items()
        if prop.get("writeOnly") is True
    }
    assert marked == {"password", "clientSecret", "apiKey"}
    assert secret_fields() == marked
    for keys in credential_fields().values():
        for key, write_only in keys.items():
            assert is_secret_field(key) is write_only, key
            assert is_secret_path(("authentication", "credentials", key)) is write_only, key


@pytest.mark.parametrize(
    "path",
    [
        "mappings[contact.custom.sso_token].crmField",
        "mappings[contact.custom.api_key].direction",
        "labels[clientSecret]",
        "labels.password",
        "description",
        "authentication.credentials[tokenEndpoint]",
        "authentication.credentials.clientId",
    ],
)
def test_no_path_is_secret_by_the_sound_of_its_name(path: str) -> None:
    assert not is_secret_path(path)
    assert mask_value(path, "shown") == "shown"


def test_the_name_guess_only_guards_input() -> None:
    # Still refused in cxrecon.yaml, labels and URL queries (tests/load), never masked.
    assert looks_secret("sso_token")
    assert not is_secret_field("sso_token")


def test_an_object_holding_credentials_has_exactly_the_secret_ones_masked() -> None:
    auth = {"type": "OAUTH2", "credentials": {"clientId": "app", "clientSecret": "x-canary"}}
    field = FieldChange(
        path="authentication",
        parts=("authentication",),
        kind=ChangeKind.ADDED,
        before=None,
        after=auth,
    )
    before, after = safe_values(field)
    assert before is None
    assert after == {"type": "OAUTH2", "credentials": {"clientId": "app", "clientSecret": MASK}}


def test_the_status_page_masks_exactly_the_secret_credentials() -> None:
    def essence(token_url: str, secret: str) -> Essence:
        body = json.loads(json.dumps(DOCS[1]))
        body["authentication"]["credentials"].update(tokenEndpoint=token_url, clientSecret=secret)
        return essence_of(ConnectorSpec.from_api(body))

    changes = diff_essences(
        essence("https://login.crm.example/t", "${env:A}"),
        essence("https://attacker.example/t", "canary-literal-page"),
    )
    rows = {r.path: (r.in_cxone, r.in_git) for r in field_rows(changes)}
    assert rows == {
        "authentication.credentials[tokenEndpoint]": (
            '"https://login.crm.example/t"',
            '"https://attacker.example/t"',
        )
    }


def test_the_openapi_document_says_what_the_emulator_masks() -> None:
    api = yaml.safe_load(SCHEMAS.joinpath("cxone-api.openapi.yaml").read_text())
    schemas = api["components"]["schemas"]
    assert schemas["Secret"]["writeOnly"] is True
    assert "writeOnly" not in schemas["Credential"]
    for variant in schemas["AuthenticationWrite"]["oneOf"]:
        auth_type = variant["properties"]["type"]["const"]
        for key, prop in variant["properties"]["credentials"]["properties"].items():
            expected = "Secret" if credential_fields()[auth_type][key] else "Credential"
            assert prop["$ref"].endswith(f"/{expected}"), (auth_type, key)
    read = schemas["CredentialsRead"]["properties"]
    for key, prop in read.items():
        assert (prop == {"const": SERVER_MASK}) is is_secret_field(key), key


def test_the_emulator_masks_exactly_the_write_only_fields(emulator: RunningEmulator) -> None:
    for doc in DOCS:
        body = json.loads(json.dumps(doc))
        creds = body["authentication"]["credentials"]
        for key in creds:
            creds[key] = CANARIES["CRM_API_KEY"] if is_secret_field(key) else PLAIN[key]
        emulator.control.seed(body)
    response = httpx.get(
        f"{emulator.base_url}/crm/connectors", headers=emulator.control.auth_headers()
    )
    assert CANARIES["CRM_API_KEY"] not in response.text
    for item in response.json()["items"]:
        for key, value in item["authentication"]["credentials"].items():
            assert value == (SERVER_MASK if is_secret_field(key) else PLAIN[key]), key


# --- every output, end to end ---------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: RunningEmulator) -> Path:
    root = tmp_path / "repo"
    (root / "connectors").mkdir(parents=True)
    (root / "cxrecon.yaml").write_text("project: secret-definition\n", encoding="utf-8")
    monkeypatch.chdir(root)
    env = {
        "CXONE_BASE_URL": emulator.base_url,
        "CXONE_CLIENT_ID": "demo-client",
        "CXONE_CLIENT_SECRET": "demo-secret",
        **CANARIES,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for doc in DOCS:
        path = root / "connectors" / f"{doc['name'].lower()}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return root


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def no_canary(where: str, text: str) -> None:
    for value in CANARIES.values():
        assert value not in text, where


def every_file(root: Path) -> str:
    return "".join(
        p.read_text(encoding="utf-8", errors="replace") for p in root.rglob("*") if p.is_file()
    )


def test_no_secret_reaches_any_output_and_every_other_credential_is_shown(
    project: Path, emulator: RunningEmulator
) -> None:
    outputs: dict[str, str] = {}
    for fmt in ("text", "markdown", "json"):
        created = run("plan", "--format", fmt)
        assert created.exit_code == 0, created.output
        outputs[f"plan --format {fmt} (creates)"] = created.output
        for key, value in PLAIN.items():
            assert value in created.output, (fmt, key)
        assert "${env:CRM_CLIENT_SECRET}" in created.output, fmt
    saved = project / "create.json"
    assert run("plan", "--out", str(saved)).exit_code == 0
    outputs["saved plan"] = saved.read_text(encoding="utf-8")
    applied = run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    outputs["apply"] = applied.output

    # A change of the secret-sounding mapping and of non-secret credentials, after review.
    oauth = json.loads(json.dumps(DOCS[1]))
    oauth["mappings"][1] = {
        "cxoneField": "contact.custom.sso_token",
        "crmField": "Public_Notes__c",
        "direction": "OUTBOUND",
    }
    oauth["authentication"]["credentials"]["clientId"] = "3MVG9-new-client-id"
    (project / "connectors" / "oauth-crm.yaml").write_text(yaml.safe_dump(oauth), encoding="utf-8")
    text = run("plan")
    assert '~ mappings[contact.custom.sso_token].crmField: "Sso_Token__c" → "Public_Notes__c"' in (
        text.output
    )
    assert '~ mappings[contact.custom.sso_token].direction: "INBOUND" → "OUTBOUND"' in text.output
    assert (
        '~ authentication.credentials[clientId]: "3MVG9-plain-client-id" → "3MVG9-new-client-id"'
    ) in text.output
    document = json.loads(run("plan", "--format", "json").output)
    [change] = document["changes"]
    shown = {f["path"]: (f["before"], f["after"], f["secret"]) for f in change["fields"]}
    assert shown["mappings[contact.custom.sso_token].crmField"] == (
        "Sso_Token__c",
        "Public_Notes__c",
        False,
    )
    assert change["credentialSpec"]["clientSecret"] == {"reference": "${env:CRM_CLIENT_SECRET}"}
    assert change["credentialSpec"]["tokenEndpoint"] == {"value": PLAIN["tokenEndpoint"]}
    markdown = run("plan", "--format", "markdown").output
    assert '<code>"Public_Notes__c"</code>' in markdown
    outputs.update(text=text.output, json=json.dumps(document), markdown=markdown)
    outputs["apply (update)"] = run("apply", "--auto-approve").output

    # A UI edit: drift shows non-secret credentials in clear, a secret one masked.
    key_id = next(
        c["id"]
        for c in httpx.get(
            f"{emulator.base_url}/crm/connectors", headers=emulator.control.auth_headers()
        ).json()["items"]
        if c["name"] == "Key-Crm"
    )
    emulator.control.edit(
        key_id,
        {"authentication": {"credentials": {"headerName": "X-Other", "apiKey": "ui-canary-9f"}}},
    )
    drift = run("drift", "--format", "json")
    assert drift.exit_code == 2, drift.output
    fields = {f["path"]: f for f in json.loads(drift.output)["connectors"][0]["fields"]}
    assert fields["authentication.credentials[headerName]"]["cxone"] == "X-Other"
    assert "ui-canary-9f" not in drift.output
    outputs["drift"] = drift.output

    dumped = run("dump", "--out", "dumped")
    assert dumped.exit_code == 0, dumped.output
    files_text = every_file(project / "dumped")
    for key in ("username", "tokenEndpoint", "clientId", "scope", "audience"):
        assert f"{key}: " in files_text
    assert PLAIN["username"] in files_text
    assert "X-Other" in files_text  # CXone's value, as a literal
    assert "password: ${env:BASIC_CRM_PASSWORD}" in files_text
    assert "clientSecret: ${env:OAUTH_CRM_CLIENT_SECRET}" in files_text
    example = (project / "dumped" / ".env.example").read_text(encoding="utf-8")
    listed = sorted(line[:-1] for line in example.splitlines() if line.endswith("="))
    assert listed == ["BASIC_CRM_PASSWORD", "KEY_CRM_API_KEY", "OAUTH_CRM_CLIENT_SECRET"]
    outputs["dump"] = dumped.output

    for where, output in outputs.items():
        no_canary(where, output)
    no_canary("files in the project (audit log, saved plan, dump, state)", every_file(project))


def test_write_back_adopts_a_plain_credential_and_never_a_secret(
    project: Path, emulator: RunningEmulator
) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    items = httpx.get(
        f"{emulator.base_url}/crm/connectors", headers=emulator.control.auth_headers()
    ).json()["items"]
    key_id = next(c["id"] for c in items if c["name"] == "Key-Crm")
    emulator.control.edit(
        key_id,
        {"authentication": {"credentials": {"headerName": "X-Other", "apiKey": "ui-canary-9f"}}},
    )

    result = run("drift", "--write-back")

    assert result.exit_code == 0, result.output
    text = (project / "connectors" / "key-crm.yaml").read_text(encoding="utf-8")
    assert "headerName: X-Other" in text
    assert "apiKey: ${env:CRM_API_KEY}" in text
    assert "ui-canary-9f" not in result.output + text
    # No field differs any more; the credentials fingerprint cxrecon recorded is of what it
    # wrote, so the next apply writes them again (the secret from its reference) and records it.
    plan = run("plan", "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    assert "~ update Key-Crm [pending]\n      credentials: rotated" in plan.output
    no_canary("write-back", result.output + every_file(project))
