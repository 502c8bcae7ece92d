"""The published JSON Schemas: well-formed 2020-12, documented, closed, consistent with
the catalog, and referenced by every example file for editor validation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from reconciler.documents.fast_schema import inline_refs
from reconciler.documents.schema import CONNECTOR_SCHEMA, PROJECT_SCHEMA, load_schema
from reconciler.load.catalog import AUTH_CREDENTIALS, CXONE_FIELDS, TRANSFORMATIONS
from reconciler.model import CONNECTOR_FIELDS, FILE_ONLY_FIELDS, MAPPING_FIELDS

from .inputs import REPO

SAVED_PLAN_SCHEMA = "saved-plan.schema.json"
SCHEMAS = [CONNECTOR_SCHEMA, PROJECT_SCHEMA, SAVED_PLAN_SCHEMA]


def _subschemas(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            if key not in ("examples", "default", "const", "enum"):
                yield from _subschemas(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _subschemas(item, f"{path}/{i}")


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_is_a_valid_2020_12_schema_with_an_id(name: str) -> None:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("/" + name)


def test_model_field_names_follow_the_connector_schema_order() -> None:
    schema = load_schema(CONNECTOR_SCHEMA)
    assert tuple(schema["properties"]) == (*CONNECTOR_FIELDS, *FILE_ONLY_FIELDS)
    assert tuple(schema["$defs"]["mapping"]["properties"]) == MAPPING_FIELDS


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_property_is_described(name: str) -> None:
    undocumented = [
        f"{path}/properties/{prop}"
        for path, node in _subschemas(load_schema(name))
        for prop, sub in (node.get("properties") or {}).items()
        if path.split("/")[-1] != "properties"
        and "/if" not in path  # conditions, not properties
        and "description" not in inline_refs(sub, load_schema(name))
    ]
    assert undocumented == []


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_object_with_properties_is_closed(name: str) -> None:
    open_objects = [
        path
        for path, node in _subschemas(load_schema(name))
        if "properties" in node
        and path.split("/")[-1] != "properties"
        and "/if" not in path
        and "/then" not in path
        and node.get("additionalProperties") is not False
    ]
    assert open_objects == []


@pytest.mark.parametrize("name", SCHEMAS)
def test_examples_validate_against_their_own_schema(name: str) -> None:
    root = load_schema(name)
    checked = 0
    for path, node in _subschemas(root):
        if path.split("/")[-1] == "properties" or not node.get("examples"):
            continue
        validator = Draft202012Validator(
            {**inline_refs(node, root), "$defs": root.get("$defs", {})}
        )
        for example in node["examples"]:
            assert list(validator.iter_errors(example)) == [], f"{path}: {example!r}"
            checked += 1
    assert checked >= 5


def test_credential_definitions_match_the_catalog() -> None:
    defs = load_schema(CONNECTOR_SCHEMA)["$defs"]
    by_type = {
        "BASIC": "basicCredentials",
        "OAUTH2": "oauth2Credentials",
        "API_KEY": "apiKeyCredentials",
    }
    for auth_type, keys in AUTH_CREDENTIALS.items():
        definition = defs[by_type[auth_type]]
        # CXone takes a connector whose credentials are set later: the catalog's required
        # keys are lint's (missing-credential), not the schema's.
        assert "required" not in definition
        assert set(definition["properties"]) == set(keys.allowed)


def test_catalog_is_documented_and_sized() -> None:
    assert 40 <= len(CXONE_FIELDS) <= 80
    assert all(f.description for f in CXONE_FIELDS.values())
    assert all(t.description.endswith(".") for t in TRANSFORMATIONS.values())
    assert {
        "lowercase",
        "uppercase",
        "trim",
        "e164",
        "iso8601",
        "date",
        "boolean",
        "number",
    } <= set(TRANSFORMATIONS)


def test_example_files_point_editors_at_the_schema() -> None:
    files = sorted((REPO / "connectors").glob("*.yaml"))
    assert len(files) >= 4
    for path in files:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schemas/connector.schema.json"
        assert (path.parent / "../schemas/connector.schema.json").resolve().is_file()
    project_first = (REPO / "cxrecon.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert project_first == "# yaml-language-server: $schema=schemas/project.schema.json"


@pytest.mark.parametrize(
    ("key", "value", "valid"),
    [
        ("tokenEndpoint", "${env:SALESFORCE_TOKEN_URL}", True),
        ("tokenEndpoint", "${file:.secrets/token-url}", True),
        ("tokenEndpoint", "${var:login}/services/oauth2/token", True),
        # Any text to the API (lint's credential-form warns): the schema takes it.
        ("tokenEndpoint", "http://plain.example/token", True),
        ("tokenEndpoint", "x ${env:A}", True),
    ],
)
def test_the_published_schema_takes_what_dump_writes_in_credentials(
    key: str, value: str, valid: bool
) -> None:
    """dump writes every masked credential as one ${env:}; editors using the schema must not
    flag those files."""
    credentials = {"tokenEndpoint": "https://login.example/token", "clientId": "${env:ID}"}
    credentials["clientSecret"] = "${env:SECRET}"
    credentials[key] = value
    doc = {
        "name": "Alpha",
        "lifecycleStatus": "ACTIVE",
        "connectorType": "SALESFORCE",
        "endpointUrl": "https://acme.my.salesforce.com/services/data/v60.0",
        "authentication": {"type": "OAUTH2", "credentials": credentials},
        "mappings": [
            {"cxoneField": "contact.external_id", "crmField": "Id", "direction": "INBOUND"}
        ],
    }
    errors = list(Draft202012Validator(load_schema(CONNECTOR_SCHEMA)).iter_errors(doc))
    assert (errors == []) is valid, [e.message for e in errors]


def test_an_api_key_header_name_may_be_a_reference() -> None:
    doc = {
        "name": "Alpha",
        "lifecycleStatus": "ACTIVE",
        "connectorType": "CUSTOM",
        "endpointUrl": "https://crm.example/api",
        "authentication": {
            "type": "API_KEY",
            "credentials": {"apiKey": "${env:KEY}", "headerName": "${env:HEADER}"},
        },
        "mappings": [{"cxoneField": "case.external_id", "crmField": "id", "direction": "INBOUND"}],
    }
    assert list(Draft202012Validator(load_schema(CONNECTOR_SCHEMA)).iter_errors(doc)) == []
