"""Every file in tests/fixtures/good (and the repository's own connectors/) is valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config.project import load_project
from reconciler.load.desired import read_desired

from .inputs import ENVIRONMENT, FIXTURES, REPO

GOOD = FIXTURES / "good"
CASES = sorted(GOOD.glob("*.yaml"))


@pytest.mark.parametrize("fixture", CASES, ids=[f.stem for f in CASES])
def test_good_fixture_has_no_findings(fixture: Path) -> None:
    result = read_desired(fixture, ENVIRONMENT, strict=True)
    assert result.diagnostics == ()
    assert len(result.connectors) == 1


def test_merge_keys_expand_into_each_mapping() -> None:
    result = read_desired(GOOD / "anchors-and-merge-keys.yaml")
    mappings = result.connectors[0].spec.mappings
    assert [m.direction for m in mappings] == ["INBOUND", "INBOUND"]
    assert mappings[1].cxone_field == "contact.custom.loyalty_number"


def test_byte_order_mark_and_crlf_keep_columns_right() -> None:
    connector = read_desired(GOOD / "bom-and-crlf.yaml").connectors[0]
    assert connector.name == "Good-Windows"
    location = connector.location_of("mappings", 0, "crmField")
    assert (location.line, location.col) == (14, 15)


def test_escaped_reference_and_dates_stay_literal_text() -> None:
    spec = read_desired(GOOD / "all-optional-fields.yaml").connectors[0].spec
    assert spec.description is not None
    assert "${NOT_A_REFERENCE}" in spec.description
    assert "2024-01-01" in spec.description
    assert spec.labels == {"team": "crm", "example.com/owner": "alice", "empty": ""}


@pytest.mark.parametrize("env_name", ["local", "sandbox", "production"])
def test_repository_connectors_are_valid_in_every_environment(env_name: str) -> None:
    project = load_project(REPO)
    result = read_desired(project.connectors_path, project.environment(env_name), strict=True)
    assert result.diagnostics == ()
    assert len(result.connectors) >= 4
    types = {c.spec.connector_type for c in result.connectors}
    assert types == {"SALESFORCE", "DYNAMICS", "CUSTOM"}
    assert "INACTIVE" in {c.spec.lifecycle_status for c in result.connectors}


def test_repository_connectors_keep_secrets_as_references() -> None:
    project = load_project(REPO)
    result = read_desired(project.connectors_path, project.environment(None))
    for connector in result.connectors:
        secret_values = [
            v
            for k, v in connector.spec.authentication.credentials.items()
            if k in ("clientSecret", "password", "apiKey")
        ]
        assert secret_values
        assert all(v.startswith(("${env:", "${file:")) for v in secret_values)
