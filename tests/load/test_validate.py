"""read_desired: directories, all errors of all files, names across files, environments,
the digest that pins saved plans, and the connectors it builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config.project import EnvironmentConfig
from reconciler.errors import ConfigError
from reconciler.load.desired import raise_if_invalid, read_desired
from reconciler.model import Authentication, FieldMapping

from .inputs import ENVIRONMENT, connector_yaml


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_directory_is_searched_recursively_for_yaml_and_yml(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", connector_yaml("A"))
    _write(tmp_path, "team/b.yml", connector_yaml("B"))
    _write(tmp_path, ".hidden/c.yaml", connector_yaml("C"))
    _write(tmp_path, "notes.txt", "not yaml")
    _write(tmp_path, ".d.yaml", connector_yaml("D"))
    result = read_desired(tmp_path)
    assert result.ok
    assert [f.relative_to(tmp_path).as_posix() for f in result.files] == ["a.yaml", "team/b.yml"]
    assert [c.name for c in result.connectors] == ["A", "B"]


def test_every_error_of_every_file_is_reported_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "b.yaml", connector_yaml("B").replace("INBOUND", "SIDEWAYS"))
    _write(tmp_path, "a.yaml", connector_yaml("A", endpoint="http://x.example") + "x: 1\n")
    _write(tmp_path, "c.yaml", "name: [\n")
    _write(tmp_path, "ok.yaml", connector_yaml("Fine"))
    result = read_desired(tmp_path)
    assert [str(d.location) for d in result.diagnostics] == [
        "a.yaml:4:14",
        "a.yaml:13:1",
        "b.yaml:12:16",
        "c.yaml:2:1",
    ]
    assert [c.name for c in result.connectors] == ["Fine"]
    assert not result.ok


def test_duplicate_connector_names_name_both_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "one.yaml", connector_yaml("Same"))
    _write(tmp_path, "two/again.yaml", "# second copy\n" + connector_yaml("Same"))
    result = read_desired(tmp_path)
    [error] = result.errors
    assert error.rule == "duplicate-connector-name"
    assert str(error.location) == "two/again.yaml:2:7"
    assert "also declared in one.yaml (line 1)" in error.message
    assert [c.name for c in result.connectors] == ["Same"]
    assert result.connectors[0].source.path == "one.yaml"


def test_a_name_is_a_duplicate_even_when_the_other_file_has_errors(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", connector_yaml("Same") + "unknown: 1\n")
    _write(tmp_path, "b.yaml", connector_yaml("Same"))
    assert {d.rule for d in read_desired(tmp_path).errors} == {"schema", "duplicate-connector-name"}


def test_an_oversized_file_is_refused_by_size(tmp_path: Path) -> None:
    _write(tmp_path, "huge.yaml", "# " + "x" * (1024 * 1024) + "\n")
    _write(tmp_path, "ok.yaml", connector_yaml())
    result = read_desired(tmp_path)
    assert [(d.rule, d.location.line if d.location else 0) for d in result.errors] == [
        ("yaml-size", 1)
    ]
    assert "over the 1,048,576-byte limit" in result.errors[0].message
    assert len(result.connectors) == 1


def test_single_file_path(tmp_path: Path) -> None:
    path = _write(tmp_path, "only.yaml", connector_yaml("Only"))
    result = read_desired(path)
    assert result.files == (path,)
    assert [c.name for c in result.connectors] == ["Only"]


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    missing = read_desired(tmp_path / "nope")
    assert [d.rule for d in missing.errors] == ["input"]
    assert "does not exist" in missing.errors[0].message
    empty = read_desired(tmp_path)
    assert empty.ok
    assert [d.severity for d in empty.diagnostics] == ["warning"]


def test_connector_is_built_with_vars_substituted_and_secrets_left_as_references(
    tmp_path: Path,
) -> None:
    extra = (
        "  - cxoneField: contact.email\n    crmField: email\n    direction: OUTBOUND\n"
        "syncSettings:\n  batchSize: 50\nlabels:\n  team: crm\n"
    )
    path = _write(
        tmp_path,
        "c.yaml",
        connector_yaml("C", endpoint="${var:sf_instance}/api", extra=extra),
    )
    [connector] = read_desired(path, ENVIRONMENT).connectors
    spec = connector.spec
    assert spec.endpoint_url == "https://acme.my.salesforce.com/api"
    assert spec.authentication == Authentication("API_KEY", {"apiKey": "${env:CRM_API_KEY}"})
    assert spec.mappings[1] == FieldMapping("contact.email", "email", "OUTBOUND")
    assert spec.sync_settings is not None
    assert (spec.sync_settings.batch_size, spec.sync_settings.retry_attempts) == (50, 3)
    assert spec.labels == {"team": "crm"}
    assert spec.version == "1.0.0"
    assert str(connector.location_of("mappings", 1, "crmField")) == f"{path.as_posix()}:14:15"


def test_omitted_sync_settings_stay_omitted(tmp_path: Path) -> None:
    [connector] = read_desired(_write(tmp_path, "c.yaml", connector_yaml())).connectors
    assert connector.spec.sync_settings is None


def test_var_problems_name_the_environment_they_belong_to(tmp_path: Path) -> None:
    path = _write(tmp_path, "c.yaml", connector_yaml(endpoint="${var:url}/api"))
    sandbox = EnvironmentConfig("sandbox", vars={"url": "https://crm.sandbox.example"})
    production = EnvironmentConfig("production", vars={})
    staging = EnvironmentConfig("staging", vars={"url": "ftp://insecure.example"})
    result = read_desired(path, sandbox, check_environments=(sandbox, production, staging))
    messages = sorted(d.message for d in result.errors)
    assert len(messages) == 2
    assert messages[0].startswith("endpointUrl: 'ftp://insecure.example/api' must be")
    assert messages[0].endswith("[environment: staging]")
    assert messages[1].startswith("unknown variable 'url' (defined: none)")
    assert messages[1].endswith("[environment: production]")
    assert result.environment == "sandbox"
    assert [c.spec.endpoint_url for c in result.connectors] == ["https://crm.sandbox.example/api"]


def test_problems_shared_by_every_environment_are_reported_once(tmp_path: Path) -> None:
    path = _write(tmp_path, "c.yaml", connector_yaml(endpoint="${var:url}/api") + "bad: 1\n")
    envs = [EnvironmentConfig(n, vars={"url": f"https://{n}.example"}) for n in ("a", "b")]
    result = read_desired(path, check_environments=envs)
    assert [d.message for d in result.errors] == [
        "unknown key 'bad'; allowed: authentication, connectorType, description, endpointUrl, "
        "labels, lifecycleStatus, management, mappings, name, previousNames, syncSettings, version"
    ]


def test_digest_follows_content_and_vars_not_location(tmp_path: Path) -> None:
    first = tmp_path / "one"
    second = tmp_path / "two"
    for directory in (first, second):
        _write(directory, "a.yaml", connector_yaml("A", endpoint="${var:sf_instance}/x"))
    digest = read_desired(first, ENVIRONMENT).digest
    assert read_desired(second, ENVIRONMENT).digest == digest
    other_vars = EnvironmentConfig("test", vars={"sf_instance": "https://other.example"})
    assert read_desired(first, other_vars).digest != digest
    _write(second, "a.yaml", connector_yaml("A", endpoint="${var:sf_instance}/y"))
    assert read_desired(second, ENVIRONMENT).digest != digest
    _write(first, "b.yaml", connector_yaml("B"))
    assert read_desired(first, ENVIRONMENT).digest != digest


def test_raise_if_invalid_lists_every_error(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", "a: 1\na: 2\n")
    result = read_desired(tmp_path)
    with pytest.raises(ConfigError) as raised:
        raise_if_invalid(result)
    assert raised.value.diagnostics == result.diagnostics
    assert "duplicate key 'a'" in str(raised.value)
    raise_if_invalid(read_desired(_write(tmp_path / "ok", "c.yaml", connector_yaml())))
