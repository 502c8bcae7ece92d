"""`cxrecon secrets`: every ${env:NAME} / ${file:PATH} the project needs, per environment,
with the connectors using each and whether this process has it — never a value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reconciler.cli.main import cli

CANARY = "canary-secret-value-3f9a1e"

PROJECT = """\
connectors: connectors/
defaultEnvironment: sandbox
environments:
  sandbox:
    baseUrl: https://api.sandbox.example/api/v2
    clientId: cx-sandbox
    vars:
      crm_url: https://crm-uat.acme.example
      legacy_url: https://legacy-uat.acme.example
  production:
    baseUrl: https://api.example/api/v2
    clientId: cx-prod
    grant: password
    username: integration@acme.example
    vars:
      crm_url: https://crm.acme.example
"""

MAPPING = """\
mappings:
  - cxoneField: contact.external_id
    crmField: id
    direction: INBOUND
"""

CONNECTORS = {
    "oauth.yaml": """\
name: Crm-Oauth
lifecycleStatus: ACTIVE
connectorType: CUSTOM
endpointUrl: ${var:crm_url}/api
authentication:
  type: OAUTH2
  credentials:
    tokenEndpoint: ${var:crm_url}/oauth/token
    clientId: crm-client
    clientSecret: ${env:CRM_SHARED_SECRET}
""",
    "nested/api-key.yaml": """\
name: Crm-Api-Key
lifecycleStatus: ACTIVE
connectorType: CUSTOM
endpointUrl: ${var:crm_url}/v2
authentication:
  type: API_KEY
  credentials:
    apiKey: ${env:CRM_SHARED_SECRET}
""",
    "legacy.yaml": """\
name: Legacy-Basic
lifecycleStatus: INACTIVE
connectorType: CUSTOM
endpointUrl: ${var:legacy_url}/api
authentication:
  type: BASIC
  credentials:
    username: integration
    password: ${file:.secrets/legacy-password}
""",
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "cxrecon.yaml").write_text(PROJECT, encoding="utf-8")
    for name, text in CONNECTORS.items():
        path = root / "connectors" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + MAPPING, encoding="utf-8")
    monkeypatch.chdir(root)
    for name in ("CRM_SHARED_SECRET", "CXONE_CLIENT_SECRET", "CXONE_PASSWORD", "CXONE_GRANT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CRM_SHARED_SECRET", CANARY)
    return root


def run(*args: str) -> Result:
    result = CliRunner().invoke(cli, ["secrets", *args])
    assert CANARY not in result.output
    assert CANARY not in result.stderr
    return result


def as_json(*args: str) -> dict[str, Any]:
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def references(report: dict[str, Any], environment: str | None) -> list[tuple[Any, ...]]:
    [env] = [e for e in report["environments"] if e["name"] == environment]
    return [
        (r["kind"], r["name"], r["available"], r["status"], tuple(r["connectors"]))
        for r in env["references"]
    ]


def test_every_reference_is_listed_per_environment_with_its_connectors(project: Path) -> None:
    report = as_json()
    assert [e["name"] for e in report["environments"]] == ["sandbox", "production"]
    assert references(report, "sandbox") == [
        ("env", "CRM_SHARED_SECRET", True, "set", ("Crm-Api-Key", "Crm-Oauth")),
        ("file", ".secrets/legacy-password", False, "not set", ("Legacy-Basic",)),
    ]
    [file_ref] = [r for r in report["environments"][0]["references"] if r["kind"] == "file"]
    assert file_ref["reference"] == "${file:.secrets/legacy-password}"
    assert file_ref["path"] == str(project.resolve() / ".secrets" / "legacy-password")
    assert "does not exist" in file_ref["detail"]


def test_a_file_that_exists_counts_as_set(project: Path) -> None:
    (project / ".secrets").mkdir()
    (project / ".secrets" / "legacy-password").write_text(CANARY + "\n", encoding="utf-8")
    report = as_json("-e", "sandbox")
    assert ("file", ".secrets/legacy-password", True, "set", ("Legacy-Basic",)) in references(
        report, "sandbox"
    )
    assert report["missing"] == []


def test_an_unset_or_empty_variable_is_not_set(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_SHARED_SECRET", "")
    report = as_json("-e", "sandbox")
    [shared] = [r for r in report["environments"][0]["references"] if r["kind"] == "env"]
    assert (shared["available"], shared["status"]) == (False, "not set")
    assert "is empty" in shared["detail"]
    assert "${env:CRM_SHARED_SECRET}" in report["missing"]


def test_one_environment_with_e(project: Path) -> None:
    report = as_json("-e", "production")
    assert [e["name"] for e in report["environments"]] == ["production"]


def test_a_file_that_does_not_load_in_an_environment_is_named_not_skipped_silently(
    project: Path,
) -> None:
    # production has no legacy_url: legacy.yaml does not load there.
    result = run("-e", "production", "--format", "json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert references(report, "production") == [
        ("env", "CRM_SHARED_SECRET", True, "set", ("Crm-Api-Key", "Crm-Oauth")),
    ]
    assert report["complete"] is False
    assert "legacy.yaml" in result.stderr
    assert "cxrecon validate" in result.stderr


def test_the_connection_secret_cxrecon_itself_needs_is_listed(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXONE_CLIENT_SECRET", CANARY)
    report = as_json()
    sandbox, production = report["environments"]
    assert [(c["name"], c["status"]) for c in sandbox["connection"]] == [
        ("CXONE_CLIENT_SECRET", "set")
    ]
    # production uses the password grant: the user's password is needed too.
    assert [(c["name"], c["status"]) for c in production["connection"]] == [
        ("CXONE_CLIENT_SECRET", "set"),
        ("CXONE_PASSWORD", "not set"),
    ]


def test_text_output_lists_references_connectors_and_state(project: Path) -> None:
    result = run("-e", "sandbox")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Environment sandbox:")
    assert any(
        "${env:CRM_SHARED_SECRET}" in line and " set " in f"{line} " and "Crm-Oauth" in line
        for line in lines
    ), result.stdout
    assert any(
        "${file:.secrets/legacy-password}" in line and "not set" in line for line in lines
    ), result.stdout
    assert any("CXONE_CLIENT_SECRET" in line and "not set" in line for line in lines)


def test_every_reference_is_set_is_still_exit_0_and_so_is_none(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run().exit_code == 0
    monkeypatch.delenv("CRM_SHARED_SECRET")
    assert run().exit_code == 0


def test_path_limits_the_listing_to_those_files(project: Path) -> None:
    report = as_json("connectors/legacy.yaml", "-e", "sandbox")
    assert [r[1] for r in references(report, "sandbox")] == [".secrets/legacy-password"]


def test_it_runs_from_a_subdirectory_of_the_project(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project / "connectors" / "nested")
    report = as_json("-e", "sandbox")
    [file_ref] = [r for r in report["environments"][0]["references"] if r["kind"] == "file"]
    assert file_ref["path"] == str(project.resolve() / ".secrets" / "legacy-password")


def test_without_a_project_file_the_implicit_environment_is_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "one.yaml").write_text(
        CONNECTORS["nested/api-key.yaml"].replace("${var:crm_url}", "https://crm.acme.example")
        + MAPPING,
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CRM_SHARED_SECRET", raising=False)
    report = as_json()
    assert references(report, None) == [
        ("env", "CRM_SHARED_SECRET", False, "not set", ("Crm-Api-Key",))
    ]


def test_the_help_says_what_it_lists_and_that_values_are_never_shown() -> None:
    result = CliRunner().invoke(cli, ["secrets", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for phrase in ("${env:NAME}", "${file:PATH}", "never", "Exit code"):
        assert phrase in text, text


def test_the_variables_of_notification_urls_are_listed_per_environment(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (project / "cxrecon.yaml").open("a") as file:
        file.write(
            "notifications:\n"
            "  - name: team-chat\n    url: ${env:TEAMS_WEBHOOK_URL}\n    events: [drift]\n"
            "    environments: [production]\n"
            "  - name: ops-mail\n"
            "    url: mailtos://cx:${env:SMTP_PASSWORD}@mail.example.com?to=${env:OPS_TO}\n"
            "    events: [apply-failed]\n"
        )
    monkeypatch.setenv("TEAMS_WEBHOOK_URL", CANARY)
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    monkeypatch.setenv("OPS_TO", "")
    report = as_json()
    sandbox, production = report["environments"]
    assert [(n["name"], n["status"], n["notifications"]) for n in sandbox["notifications"]] == [
        ("OPS_TO", "not set", ["ops-mail"]),
        ("SMTP_PASSWORD", "not set", ["ops-mail"]),
    ]
    assert [(n["name"], n["status"]) for n in production["notifications"]] == [
        ("OPS_TO", "not set"),
        ("SMTP_PASSWORD", "not set"),
        ("TEAMS_WEBHOOK_URL", "set"),
    ]
    # A destination that is not set never fails a run: listed apart from `missing`.
    assert report["missingNotifications"] == ["${env:OPS_TO}", "${env:SMTP_PASSWORD}"]
    assert "${env:SMTP_PASSWORD}" not in report["missing"]

    text = run("-e", "production").stdout
    assert any(
        "notification: TEAMS_WEBHOOK_URL" in line and " set " in line and "team-chat" in line
        for line in text.splitlines()
    ), text
    assert any(
        "notification: SMTP_PASSWORD" in line and "not set" in line for line in text.splitlines()
    ), text
