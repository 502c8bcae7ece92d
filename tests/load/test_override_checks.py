"""validate sees what apply would send: `environments.NAME.overrides` values are checked like
the connector file's own (references, secrets, schema, lint) after `${var:}` substitution,
per environment, at the override's line in cxrecon.yaml (issue 22, break 10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reconciler.cli.main import cli
from reconciler.config.project import load_project
from reconciler.load.desired import read_desired

from .inputs import CANARY, connector_yaml

#: Line numbers below are the override values' lines in this file.
PROJECT = """\
project: demo
connectors: connectors
environments:
  x:
    vars:
      crm_host: crm.x.example
    overrides:
      "Sales*":
        authentication:
          credentials:
            apiKey: "{value}"
  y:
    vars:
      crm_host: crm.y.example
"""
#: Where the override of `apiKey` above is written.
OVERRIDE_AT = "cxrecon.yaml:11:13"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "sales.yaml").write_text(connector_yaml("Sales"), "utf-8")
    return tmp_path


def _configure(project: Path, value: str, text: str = PROJECT) -> None:
    (project / "cxrecon.yaml").write_text(text.replace("{value}", value), "utf-8")


def validate(*args: str) -> Result:
    env = {"CRM_API_KEY": CANARY, "CXONE_CLIENT_SECRET": CANARY, "NO_COLOR": "1"}
    return CliRunner().invoke(cli, ["validate", *args], env=env)


@pytest.mark.parametrize("cache", [(), ("--no-cache",)])
def test_a_reserved_variable_set_by_an_override_fails_validate_for_that_environment(
    project: Path, cache: tuple[str, ...]
) -> None:
    _configure(project, "${env:CXONE_CLIENT_SECRET}")

    refused = validate("-e", "x", *cache)
    other = validate("-e", "y", *cache)

    assert refused.exit_code == 1, refused.output
    line = next(x for x in refused.output.splitlines() if "ref-reserved-variable" in x)
    assert line.startswith(f"{OVERRIDE_AT}: error: ")
    assert "CXONE_CLIENT_SECRET" in line
    assert "Traceback" not in refused.output
    assert other.exit_code == 0, other.output


def test_validate_without_an_environment_checks_the_overrides_of_every_one(
    project: Path,
) -> None:
    _configure(project, "${env:CXONE_CLIENT_SECRET}")

    result = validate("--format", "json", "--no-cache")

    assert result.exit_code == 1, result.output
    body = json.loads(result.output)
    assert set(body["environments"]) == {"x", "y"}
    [finding] = [d for d in body["diagnostics"] if d["severity"] == "error"]
    assert finding["rule"] == "ref-reserved-variable"
    assert (finding["path"], finding["line"], finding["col"]) == ("cxrecon.yaml", 11, 13)
    assert "[environment: x]" in finding["message"]


def test_a_literal_secret_in_an_override_is_refused_without_showing_it(project: Path) -> None:
    _configure(project, CANARY)

    result = validate("-e", "x", "--no-cache")

    assert result.exit_code == 1
    assert CANARY not in result.output
    errors = [x for x in result.output.splitlines() if ": error: " in x]
    assert errors
    assert all(x.startswith(OVERRIDE_AT) for x in errors), errors


def test_a_file_reference_out_of_the_project_in_an_override_is_refused(project: Path) -> None:
    _configure(project, "${file:../../etc/passwd}")

    result = validate("-e", "x", "--no-cache")

    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"{OVERRIDE_AT}: error: ")


ENDPOINT_PROJECT = """\
project: demo
connectors: connectors
environments:
  x:
    vars:
      crm_host: crm.x.example
    overrides:
      "Sales*":
        endpointUrl: "{value}"
"""


def test_an_override_value_gets_its_environments_vars_and_is_checked_after(
    project: Path,
) -> None:
    _configure(project, "https://${var:crm_host}/api", ENDPOINT_PROJECT)
    loaded = read_desired(
        project / "connectors",
        (proj := load_project(project)).environment("x"),
        project=proj,
    )
    assert loaded.ok, loaded.diagnostics
    [sales] = loaded.connectors
    assert sales.spec.endpoint_url == "https://crm.x.example/api"

    _configure(project, "${env:CRM_HOST}", ENDPOINT_PROJECT)
    result = validate("-e", "x", "--no-cache")

    assert result.exit_code == 1, result.output
    assert result.output.startswith("cxrecon.yaml:9:9: error: ")


def test_a_schema_problem_an_override_brings_is_reported_at_the_override(
    project: Path,
) -> None:
    _configure(project, "ftp://crm.x.example/api", ENDPOINT_PROJECT)

    result = validate("-e", "x", "--no-cache")

    assert result.exit_code == 1, result.output
    errors = [x for x in result.output.splitlines() if ": error: " in x]
    assert errors
    assert all(x.startswith("cxrecon.yaml:9:9: error: ") for x in errors), errors
