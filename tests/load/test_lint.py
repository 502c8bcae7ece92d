"""Lint rules in isolation: each finds what it should and nothing it should not."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.documents.yamlload import LoadedDocument
from reconciler.load.lint import lint_connector
from reconciler.load.lint_rules import RULES

DOCUMENT = LoadedDocument("c.yaml", None)


def _connector(kind: str = "CUSTOM", **changes: Any) -> dict[str, Any]:
    identity = {"CUSTOM": "id", "SALESFORCE": "Id", "DYNAMICS": "contactid"}[kind]
    data: dict[str, Any] = {
        "name": "c",
        "connectorType": kind,
        "endpointUrl": {
            "CUSTOM": "https://crm.example/api",
            "SALESFORCE": "https://acme.my.salesforce.com/x",
            "DYNAMICS": "https://acme.crm4.dynamics.com/api",
        }[kind],
        "authentication": {"type": "API_KEY", "credentials": {"apiKey": "${env:K}"}},
        "mappings": [
            {"cxoneField": "contact.external_id", "crmField": identity, "direction": "INBOUND"}
        ],
    }
    data.update(changes)
    return data


def _rules(data: dict[str, Any]) -> list[str]:
    return [f.rule for f in lint_connector(data, DOCUMENT)]


def _mapping(cxone: str, crm: str, direction: str = "INBOUND", **extra: str) -> dict[str, str]:
    return {"cxoneField": cxone, "crmField": crm, "direction": direction, **extra}


@pytest.mark.parametrize("kind", ["CUSTOM", "SALESFORCE", "DYNAMICS"])
def test_a_minimal_connector_of_each_type_is_clean(kind: str) -> None:
    assert _rules(_connector(kind)) == []


def test_crm_field_duplicates_ignore_case_only_for_hosted_crms() -> None:
    extra = _mapping("contact.email", "ID")
    salesforce = _connector("SALESFORCE")
    salesforce["mappings"].append(extra)
    custom = _connector("CUSTOM")
    custom["mappings"].append(_mapping("contact.email", "ID"))
    # CXone takes a twin differing in case (a warning); the same field twice it refuses.
    assert _rules(salesforce) == ["duplicate-crm-field-case"]
    assert RULES["duplicate-crm-field-case"].severity == "warning"
    assert _rules(custom) == []
    custom["mappings"][-1]["crmField"] = "id"
    assert _rules(custom) == ["duplicate-crm-field"]
    assert RULES["duplicate-crm-field"].severity == "error"


def test_rules_the_api_does_not_enforce_are_warnings() -> None:
    """What a tenant can hold validates once dumped: only API rules and cxrecon's own are
    errors (issue 24)."""
    errors = {rule.id for rule in RULES.values() if rule.severity == "error"}
    assert errors == {
        "duplicate-cxone-field",
        "duplicate-crm-field",
        "auth-credentials",
        "reserved-label",
        "duplicate-connector-name",
        "secret-in-url",
    }


def test_values_cxone_takes_but_that_look_wrong_are_warned_about() -> None:
    data = _connector(
        "CUSTOM",
        name="Kundendaten Übersee",
        endpointUrl="http://10.0.0.7:8080/api",
        authentication={
            "type": "OAUTH2",
            "credentials": {"tokenEndpoint": "login.acme.example/token", "clientId": "c"},
        },
    )
    assert _rules(data) == [
        "missing-credential",
        "name-characters",
        "insecure-endpoint",
        "credential-form",
    ]
    data["name"] = "Kundendaten-Übersee-日本"  # letters of any script are plain
    data["endpointUrl"] = "https://crm.acme.example/api"
    data["authentication"] = {
        "type": "API_KEY",
        "credentials": {"apiKey": "${env:K}", "headerName": "X Api Key"},
    }
    assert [(f.rule, f.path[-1]) for f in lint_connector(data, DOCUMENT)] == [
        ("credential-form", "headerName")
    ]
    # A reference or an unsubstituted ${var:} is judged once resolved.
    data["authentication"] = {
        "type": "OAUTH2",
        "credentials": {
            "tokenEndpoint": "${var:login}/services/oauth2/token",
            "clientId": "${env:CLIENT_ID}",
            "clientSecret": "${env:S}",
        },
    }
    assert _rules(data) == []


def test_custom_fields_may_use_letters_of_any_script() -> None:
    data = _connector("CUSTOM", mappings=[_mapping("contact.external_id", "id")])
    data["mappings"].append(_mapping("contact.custom.préférence", "crm_feld_00_ß"))
    assert _rules(data) == []
    data["mappings"][-1]["cxoneField"] = "contact.custom.Préférence"
    assert _rules(data) == ["unknown-cxone-field"]


def test_any_dynamics_entity_key_satisfies_the_identity_rule() -> None:
    data = _connector("DYNAMICS", mappings=[_mapping("account.external_id", "accountid")])
    assert _rules(data) == []
    data["mappings"] = [_mapping("account.name", "name")]
    assert _rules(data) == ["missing-identity-mapping"]


def test_custom_fields_are_accepted_and_typos_are_not() -> None:
    data = _connector()
    data["mappings"] += [
        _mapping("contact.custom.loyalty_tier", "tier"),
        _mapping("contact.custom", "x"),
        _mapping("opportunity.custom.x", "y"),
    ]
    assert _rules(data) == ["unknown-cxone-field", "unknown-cxone-field"]


def test_credentials_rule_names_the_auth_type_a_key_belongs_to() -> None:
    data = _connector(authentication={"type": "BASIC", "credentials": {"clientSecret": "${env:S}"}})
    findings = lint_connector(data, DOCUMENT)
    assert [(f.rule, f.path) for f in findings] == [
        ("missing-credential", ("authentication", "credentials")),
        ("missing-credential", ("authentication", "credentials")),
        ("auth-credentials", ("authentication", "credentials", "clientSecret")),
    ]
    assert "(it belongs to OAUTH2)" in findings[2].message


def test_endpoint_host_must_fit_the_type_at_a_label_boundary() -> None:
    assert _rules(_connector("SALESFORCE", endpointUrl="https://force.com/x")) == []
    assert _rules(_connector("SALESFORCE", endpointUrl="https://evilsalesforce.com/x")) == [
        "endpoint-host-mismatch"
    ]


def test_lint_tolerates_shapes_the_schema_rejects() -> None:
    assert _rules(_connector(mappings="nope", labels=["x"], authentication=None)) == []
    assert lint_connector(["not", "a", "mapping"], DOCUMENT) == []


def test_every_finding_uses_a_documented_rule() -> None:
    data = _connector(
        "SALESFORCE",
        endpointUrl="https://crm.example/x",
        labels={"managed-by": "x"},
        mappings=[
            _mapping("contact.email", "Email", "BIDIRECTIONAL"),
            _mapping("contact.email", "email", transformation="e164"),
            _mapping("interaction.id", "Ix", transformation="nope"),
        ],
    )
    rules = _rules(data)
    assert set(rules) <= set(RULES)
    assert set(rules) == {
        "bidirectional-without-transformation",
        "duplicate-cxone-field",
        "duplicate-crm-field-case",
        "transformation-kind-mismatch",
        "read-only-cxone-field",
        "unknown-transformation",
        "missing-identity-mapping",
        "reserved-label",
        "endpoint-host-mismatch",
    }
