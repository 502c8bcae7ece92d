"""cxrecon.yaml: defaults, environments, safety and sync settings, and its own errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config.project import SafetyLimits, SyncPollSettings, load_project
from reconciler.config.settings import ConnectionSettings
from reconciler.errors import ConfigError
from reconciler.model import SourceLocation

from .inputs import CANARY, REPO

FULL = """\
connectors: desired/
defaultEnvironment: sandbox
environments:
  sandbox:
    tenant: acme-sandbox
    baseUrl: https://api.sandbox.example/api/v2
    clientId: cx-sandbox
    grant: password
    username: integration@acme.example
    scopes: [crm:connectors:read, crm:connectors:write]
    timeoutSeconds: 12.5
    vars:
      sf_url: https://acme--uat.sandbox.my.salesforce.com
      retries: 3
      strict: true
  production:
    baseUrl: https://api.example/api/v2
    clientId: cx-prod
safety:
  maxChangeFraction: 0.5
  minManaged: 4
  gateActiveDeactivation: false
sync:
  pollBaseSeconds: 1
  pollCapSeconds: 20
  pollMaxAttempts: 10
  pollTimeoutSeconds: 120
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "cxrecon.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_no_project_file_means_defaults(tmp_path: Path) -> None:
    project = load_project(tmp_path)
    assert project.file is None
    assert project.connectors_path == tmp_path.resolve() / "connectors"
    assert project.safety == SafetyLimits(0.3, 10, True)
    assert project.sync_poll == SyncPollSettings(0.5, 10.0, 60, 600.0)
    env = project.environment(None)
    assert (env.name, dict(env.connection), dict(env.vars)) == ("default", {}, {})


def test_a_project_file_with_only_comments_means_defaults(tmp_path: Path) -> None:
    project = load_project(_write(tmp_path, "# nothing configured yet\n"))
    assert project.file == tmp_path.resolve() / "cxrecon.yaml"
    assert project.connectors_path == tmp_path.resolve() / "connectors"
    assert project.environments == {}


def test_working_directory_is_the_default_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, "connectors: elsewhere\n")
    monkeypatch.chdir(tmp_path)
    assert load_project().connectors_path == tmp_path.resolve() / "elsewhere"


def test_full_project_file_is_loaded(tmp_path: Path) -> None:
    project = load_project(_write(tmp_path, FULL))
    assert project.connectors_path == tmp_path.resolve() / "desired"
    assert project.safety == SafetyLimits(0.5, 4, False)
    assert project.sync_poll == SyncPollSettings(1.0, 20.0, 10, 120.0)
    sandbox = project.environment(None)
    assert sandbox.name == "sandbox"
    assert sandbox.tenant == "acme-sandbox"
    assert dict(sandbox.vars) == {
        "sf_url": "https://acme--uat.sandbox.my.salesforce.com",
        "retries": "3",
        "strict": "true",
    }
    assert dict(sandbox.connection) == {
        "baseUrl": "https://api.sandbox.example/api/v2",
        "clientId": "cx-sandbox",
        "grant": "password",
        "username": "integration@acme.example",
        "scopes": "crm:connectors:read crm:connectors:write",
        "timeoutSeconds": "12.5",
    }
    assert project.environment("production").connection["clientId"] == "cx-prod"


def test_the_connectors_key_location_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    project = load_project(_write(tmp_path, "# project\nsafety: {}\n  \nconnectors: x/\n"))
    assert project.connectors_location == SourceLocation("cxrecon.yaml", 4, 1)
    assert load_project(_write(tmp_path, "safety: {}\n")).connectors_location is None


def test_environment_connection_feeds_connection_settings(tmp_path: Path) -> None:
    env = load_project(_write(tmp_path, FULL)).environment("sandbox")
    settings = ConnectionSettings.from_sources(
        {"CXONE_CLIENT_SECRET": CANARY, "CXONE_PASSWORD": CANARY}, env.connection
    )
    assert settings.base_url == "https://api.sandbox.example/api/v2"
    assert settings.grant == "password"
    assert settings.scopes == ("crm:connectors:read", "crm:connectors:write")
    assert settings.timeout == 12.5


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "abc"])
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_refused(value: str) -> None:
    environ = {
        "CXONE_BASE_URL": "https://api.example/api/v2",
        "CXONE_CLIENT_ID": "cx",
        "CXONE_CLIENT_SECRET": CANARY,
        "CXONE_TIMEOUT": value,
    }
    with pytest.raises(ConfigError, match="CXONE_TIMEOUT must be a positive number of seconds"):
        ConnectionSettings.from_sources(environ)


def test_unknown_environment_names_the_known_ones(tmp_path: Path) -> None:
    project = load_project(_write(tmp_path, FULL))
    with pytest.raises(
        ConfigError, match=r"unknown environment 'staging' \(known: production, sandbox\)"
    ):
        project.environment("staging")


def test_several_environments_without_default_need_a_choice(tmp_path: Path) -> None:
    project = load_project(_write(tmp_path, FULL.replace("defaultEnvironment: sandbox\n", "")))
    with pytest.raises(ConfigError, match="pass -e NAME or set defaultEnvironment"):
        project.environment(None)


def test_undefined_default_environment_is_an_error_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_project(
            _write(tmp_path, FULL.replace("defaultEnvironment: sandbox", "defaultEnvironment: uat"))
        )
    [diagnostic] = raised.value.diagnostics
    assert diagnostic.location is not None
    assert (diagnostic.location.line, diagnostic.location.col) == (2, 21)
    assert "defaultEnvironment 'uat' is not defined" in diagnostic.message


def test_secrets_in_the_project_file_are_refused_without_echoing_them(tmp_path: Path) -> None:
    text = FULL.replace(
        "    clientId: cx-prod\n", f"    clientId: cx-prod\n    clientSecret: {CANARY}\n"
    ).replace("      retries: 3\n", f"      sf_token: {CANARY}\n")
    with pytest.raises(ConfigError) as raised:
        load_project(_write(tmp_path, text))
    found = [
        (d.location.line, d.location.col, d.rule) for d in raised.value.diagnostics if d.location
    ]
    assert found == [(14, 7, "secret-in-project"), (19, 5, "secret-in-project")]
    assert "set CXONE_CLIENT_SECRET instead" in str(raised.value)
    assert CANARY not in str(raised.value)


def test_schema_errors_in_the_project_file_point_at_the_value(tmp_path: Path) -> None:
    text = FULL.replace("maxChangeFraction: 0.5", "maxChangeFraction: 1.5").replace(
        "grant: password", "grant: implicit"
    )
    with pytest.raises(ConfigError) as raised:
        load_project(_write(tmp_path, text))
    found = [(d.location.line, d.location.col) for d in raised.value.diagnostics if d.location]
    assert found == [(8, 12), (20, 22)]
    assert "cxrecon.yaml:20:22" in str(raised.value)


def test_broken_yaml_in_the_project_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_project(_write(tmp_path, "environments:\n  a: 1\n  a: 2\n"))
    assert [d.rule for d in raised.value.diagnostics] == ["schema", "yaml-duplicate-key"]


def test_repository_project_defaults_to_an_environment_whose_vars_resolve() -> None:
    project = load_project(REPO)
    assert set(project.environments) == {"local", "sandbox", "production"}
    local = project.environment(None)
    assert local.name == "local"
    assert local.connection["baseUrl"].startswith("http://127.0.0.1")
    assert "salesforce_instance_url" in local.vars
