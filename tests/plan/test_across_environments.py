"""`cxrecon plan -e all` / `-e a -e b` (issue 15): one report across environments, each
planned against its own tenant (two emulators on real ports), showing what production will
get that sandbox already has; `-e NAME` alone is the ordinary plan."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner, Result
from referencing import Registry, Resource

from reconciler.cli.main import cli
from reconciler.testing import RunningEmulator

SCHEMAS = Path(__file__).parents[2] / "schemas"
CANARY = "CANARY-across-environments-3f9a"

BILLING = {
    "name": "Billing-Sync",
    "description": "Invoices from the billing CRM",
    "lifecycleStatus": "ACTIVE",
    "connectorType": "CUSTOM",
    "endpointUrl": "${var:billing_url}/api",
    "authentication": {
        "type": "API_KEY",
        "credentials": {"apiKey": "${env:BILLING_API_KEY}"},
    },
    "mappings": [
        {"cxoneField": "account.external_id", "crmField": "id", "direction": "INBOUND"},
    ],
    "syncSettings": {"batchSize": 250},
    "version": "1.0.0",
}


@pytest.fixture
def tenants(emulator_factory: Callable[..., RunningEmulator]) -> dict[str, RunningEmulator]:
    return {"sandbox": emulator_factory(), "production": emulator_factory()}


@pytest.fixture
def project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tenants: dict[str, RunningEmulator]
) -> Path:
    config = {
        "connectors": "connectors/",
        "defaultEnvironment": "sandbox",
        "environments": {
            "sandbox": {
                "baseUrl": tenants["sandbox"].base_url,
                "clientId": "demo-client",
                "vars": {"billing_url": "https://billing-sandbox.example"},
            },
            "production": {
                "baseUrl": tenants["production"].base_url,
                "clientId": "demo-client",
                "vars": {"billing_url": "https://billing.example"},
                "overrides": {"Billing-*": {"lifecycleStatus": "INACTIVE"}},
            },
        },
    }
    (tmp_path / "cxrecon.yaml").write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "billing.yaml").write_text(yaml.safe_dump(BILLING), "utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> Result:
    env = {
        "CXONE_BASE_URL": "",
        "CXONE_CLIENT_SECRET": "demo-secret",
        "BILLING_API_KEY": CANARY,
        "NO_COLOR": "1",
        "GITHUB_STEP_SUMMARY": "",
    }
    return CliRunner().invoke(cli, list(args), env=env)


def test_all_environments_show_what_production_gets_that_sandbox_has(project: Path) -> None:
    assert run("apply", "-e", "sandbox", "--auto-approve").exit_code == 0

    text = run("plan", "-e", "all")
    as_json = run("plan", "-e", "sandbox", "-e", "production", "--format", "json")
    markdown = run("plan", "--environment", "all", "--format", "markdown")

    assert text.exit_code == 0, text.output
    assert "  sandbox: No changes. Plan: 1 unchanged." in text.output
    assert "  production: Plan: 1 to create, 0 unchanged." in text.output
    assert "~ Billing-Sync   sandbox: no-op · production: create" in text.output
    lines = text.output.splitlines()
    at = lines.index("    lifecycleStatus")
    assert lines[at + 1 : at + 3] == [
        '        sandbox:    "ACTIVE"',
        '        production: "INACTIVE"  (planned here, override)',
    ]
    at = lines.index("    endpointUrl")
    assert lines[at + 1 : at + 3] == [
        '        sandbox:    "https://billing-sandbox.example/api"',
        '        production: "https://billing.example/api"  (planned here)',
    ]
    # The same in both, but only production's plan still has to write it.
    assert "    syncSettings.batchSize  (same everywhere)" in lines
    at = lines.index("    authentication.credentials[apiKey]  (same everywhere)")
    assert lines[at + 2] == '        production: "${env:BILLING_API_KEY}"  (planned here)'

    document = json.loads(as_json.output)
    schema = json.loads((SCHEMAS / "plan-comparison.schema.json").read_text("utf-8"))
    plan_schema = json.loads((SCHEMAS / "plan.schema.json").read_text("utf-8"))
    registry = Registry().with_resource(plan_schema["$id"], Resource.from_contents(plan_schema))
    jsonschema.Draft202012Validator(schema, registry=registry).validate(document)
    assert document["environments"] == ["sandbox", "production"]
    (billing,) = document["connectors"]
    assert billing["actions"] == {"sandbox": "no-op", "production": "create"}
    fields = {f["path"]: f for f in billing["fields"]}
    assert fields["lifecycleStatus"]["values"] == {"sandbox": "ACTIVE", "production": "INACTIVE"}
    assert fields["lifecycleStatus"]["overriddenIn"] == ["production"]
    assert fields["syncSettings.batchSize"]["differs"] is False
    assert fields["syncSettings.batchSize"]["changedIn"] == ["production"]

    assert "| <code>Billing-Sync</code> | no-op | create |" in markdown.output
    for result in (text, as_json, markdown):
        assert CANARY not in result.output


def test_detailed_exit_code_covers_every_environment(project: Path) -> None:
    assert run("apply", "-e", "sandbox", "--auto-approve").exit_code == 0

    assert run("plan", "-e", "sandbox", "--detailed-exitcode").exit_code == 0
    assert run("plan", "-e", "all", "--detailed-exitcode").exit_code == 2


def test_one_environment_is_the_ordinary_plan(project: Path) -> None:
    result = run("plan", "-e", "production", "--format", "json")

    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["environment"] == "production"
    assert document["summary"]["create"] == 1


def test_unknown_environment_and_saving_a_comparison_are_refused(project: Path) -> None:
    unknown = run("plan", "-e", "sandbox", "-e", "staging")
    saved = run("plan", "-e", "all", "--out", "plan.json")

    assert unknown.exit_code == 1
    assert "staging" in unknown.output
    assert "production" in unknown.output
    assert saved.exit_code == 2
    assert "--out saves the plan of one environment" in saved.output


def test_the_policies_each_environment_breaks_are_shown_in_every_format(project: Path) -> None:
    with (project / "cxrecon.yaml").open("a", encoding="utf-8") as file:
        file.write(
            "policies:\n"
            "  - name: billing-host\n"
            "    environments: [production]\n"
            "    rule: connector.endpointUrl.startsWith('https://billing.acme.example/')\n"
            "    message: production talks to billing.acme.example only\n"
            "  - name: owning-team\n"
            "    severity: warning\n"
            "    rule: has(connector.labels.team)\n"
            "    message: set labels.team\n"
        )

    text = run("plan", "-e", "all")
    markdown = run("plan", "-e", "all", "--format", "markdown")
    as_json = run("plan", "-e", "all", "--format", "json")

    assert text.exit_code == 1, text.output  # an error policy, as for one plan
    lines = text.output.splitlines()
    at = lines.index("sandbox: Policy: 0 error(s), 1 warning(s):")
    assert lines[at + 1].startswith("  - warning: policy 'owning-team': Billing-Sync (connectors/")
    at = lines.index(
        "production: Policy: 1 error(s), 1 warning(s) (apply will not write those connectors):"
    )
    assert lines[at + 1].startswith("  - error: policy 'billing-host': Billing-Sync (")
    assert lines[at + 1].endswith("): production talks to billing.acme.example only")
    assert "### Policy in <code>production</code>" in markdown.output
    assert "| error | billing-host | Billing-Sync | connectors/billing.yaml:" in markdown.output
    document = json.loads(as_json.output)
    assert document["plans"]["production"]["policy"]["errors"] == 1
