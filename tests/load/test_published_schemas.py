"""The published JSON Schemas tell the truth.

What `cxrecon validate` (schemas/connector.schema.json) accepts, the CXone API (the emulator)
accepts too, and what the API refuses, validate refuses first: a pull request never passes
validation and then fails on apply."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from reconciler.cli.main import cli
from reconciler.testing import RunningEmulator, api_client

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
]

#: The same fields at the edge of what the API takes: both sides accept them.
ACCEPTED: list[tuple[str, tuple[str, ...], Any]] = [
    ("one-character description", ("description",), "d"),
    ("endpoint port 65535", ("endpointUrl",), "https://crm.acme.example:65535/api/v2"),
    ("endpoint port 8443", ("endpointUrl",), "https://crm.acme.example:8443"),
    (
        "credential value of 4,096 characters",
        ("authentication", "credentials", "username"),
        "u" * 4096,
    ),
    ("description of 2,000 characters", ("description",), "d" * 2000),
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
