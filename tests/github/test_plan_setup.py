"""A reviewer approving from the plan sees the setup the merge needs: a change whose apply
resolves a new `${env:FRESHDESK_API_KEY}` says "needs `FRESHDESK_API_KEY` in the production
job" in text, Markdown (the pull-request comment) and JSON, and `cxrecon secrets` lists the
same reference for that environment. Before, the comment was green and the merge's apply
failed for that connector."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from reconciler.cli.main import cli
from reconciler.testing import RunningEmulator

ROOT = Path(__file__).resolve().parents[2]
KEY = "CANARY-setup-api-key-41c"

CONNECTOR = """name: {name}
lifecycleStatus: ACTIVE
connectorType: CUSTOM
endpointUrl: https://crm.example/{path}
authentication:
  type: API_KEY
  credentials:
    apiKey: ${{env:{variable}}}
mappings:
  - cxoneField: contact.external_id
    crmField: {crm_field}
    direction: INBOUND
"""


def connector(name: str, variable: str, crm_field: str = "id") -> str:
    return CONNECTOR.format(name=name, path=name.lower(), variable=variable, crm_field=crm_field)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: RunningEmulator) -> Path:
    (tmp_path / "connectors").mkdir()
    (tmp_path / "cxrecon.yaml").write_text(
        "project: team\n"
        "environments:\n"
        "  production:\n"
        f"    baseUrl: {emulator.base_url}\n"
        "    clientId: demo-client\n",
        encoding="utf-8",
    )
    (tmp_path / "connectors" / "zendesk.yaml").write_text(
        connector("Zendesk-Tickets", "ZENDESK_API_KEY"), encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    applied = invoke("apply", "-e", "production", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    return tmp_path


def invoke(*args: str) -> Result:
    env = {"CXONE_CLIENT_SECRET": "demo-secret", "ZENDESK_API_KEY": KEY, "NO_COLOR": "1"}
    return CliRunner().invoke(cli, list(args), env=env)


def plan(fmt: str) -> str:
    result = invoke("plan", "-e", "production", "--format", fmt)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_new_secret_reference_is_named_in_every_format(project: Path) -> None:
    (project / "connectors" / "freshdesk.yaml").write_text(
        connector("Freshdesk-Tickets", "FRESHDESK_API_KEY"), encoding="utf-8"
    )
    text = plan("text")
    assert "needs `FRESHDESK_API_KEY` in the production job (Freshdesk-Tickets)" in text
    assert "ZENDESK_API_KEY" not in text  # applied before: its apply resolves nothing new

    comment = plan("markdown")
    assert "### Setup this merge needs" in comment
    assert (
        "needs <code>FRESHDESK_API_KEY</code> in the production job (Freshdesk-Tickets)" in comment
    )

    document: dict[str, Any] = json.loads(plan("json"))
    assert document["secretsNeeded"] == [
        {
            "reference": "${env:FRESHDESK_API_KEY}",
            "kind": "env",
            "name": "FRESHDESK_API_KEY",
            "connectors": ["Freshdesk-Tickets"],
        }
    ]
    schema = json.loads((ROOT / "schemas" / "plan.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(document, schema)

    # `cxrecon secrets` agrees: the same reference, in the same environment, not set here.
    listed = invoke("secrets", "-e", "production", "--format", "json")
    assert listed.exit_code == 0, listed.output
    (environment,) = json.loads(listed.output)["environments"]
    assert environment["name"] == "production"
    references = {r["reference"]: r for r in environment["references"]}
    for needed in document["secretsNeeded"]:
        assert references[needed["reference"]]["connectors"] == needed["connectors"]
    assert "${env:FRESHDESK_API_KEY}" in json.loads(listed.output)["missing"]
    for output in (text, comment, listed.output):
        assert KEY not in output


def test_a_change_that_leaves_the_credentials_alone_needs_nothing(project: Path) -> None:
    (project / "connectors" / "zendesk.yaml").write_text(
        connector("Zendesk-Tickets", "ZENDESK_API_KEY", crm_field="external_id"),
        encoding="utf-8",
    )
    text = plan("text")
    assert "update Zendesk-Tickets" in text
    assert "Setup:" not in text
    assert "Setup this merge needs" not in plan("markdown")
    assert json.loads(plan("json"))["secretsNeeded"] == []


def test_plans_across_environments_name_each_environments_setup(
    project: Path, emulator: RunningEmulator
) -> None:
    text = (project / "cxrecon.yaml").read_text(encoding="utf-8")
    (project / "cxrecon.yaml").write_text(
        text + f"  sandbox:\n    baseUrl: {emulator.base_url}\n    clientId: demo-client\n",
        encoding="utf-8",
    )
    (project / "connectors" / "freshdesk.yaml").write_text(
        connector("Freshdesk-Tickets", "FRESHDESK_API_KEY"), encoding="utf-8"
    )
    across = invoke("plan", "-e", "production", "-e", "sandbox")
    assert across.exit_code == 0, across.output
    assert (
        "production: needs `FRESHDESK_API_KEY` in the production job (Freshdesk-Tickets)"
        in across.output
    )
    # The sandbox tenant is the same emulator here, so it needs the same one.
    assert "sandbox: needs `FRESHDESK_API_KEY` in the sandbox job" in across.output
    comment = invoke("plan", "-e", "production", "-e", "sandbox", "--format", "markdown")
    assert "**Setup this merge needs:**" in comment.output
    assert "needs <code>FRESHDESK_API_KEY</code> in the sandbox job" in comment.output
    document = json.loads(
        invoke("plan", "-e", "production", "-e", "sandbox", "--format", "json").output
    )
    assert [n["name"] for n in document["plans"]["sandbox"]["secretsNeeded"]] == [
        "FRESHDESK_API_KEY"
    ]
