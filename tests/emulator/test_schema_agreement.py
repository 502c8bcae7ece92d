"""The CXone API (the emulator's request validation) and schemas/connector.schema.json are one
definition of a valid connector: over generated documents, what one takes the other takes.

A document the API takes is written as dump writes it (secrets as `${env:}` references,
defaults filled) and judged by the schema and lint's errors; a document the API refuses must
be refused by them too, so a pull request never validates and then fails on apply, and a
tenant never holds what cxrecon cannot manage (issue 24).

Two rules are cxrecon's own and left out of the drawing: `cxrecon.io/` labels (cxrecon writes
them; dump leaves them out) and credentials in a URL's query (`secret-in-url`: the value would
be committed to git). Secret values are resolved at apply time, so only their reference is
judged here.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Final

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.documents.schema import connector_checker, load_schema
from reconciler.documents.yamlload import LoadedDocument
from reconciler.emulator import validation as api
from reconciler.emulator.problem import ApiProblem
from reconciler.emulator.validation import MASK, check_document, with_defaults
from reconciler.load.lint import lint_connector

SETTINGS: Final = settings(derandomize=True, database=None, deadline=None, max_examples=600)
DOCUMENT: Final = LoadedDocument("connector.yaml", None)
#: cxrecon's own error rules that are not about what CXone takes (see the module docstring).
OWN_RULES: Final = frozenset({"reserved-label", "secret-in-url"})
SECRET_KEYS: Final = frozenset({"password", "clientSecret", "apiKey"})

BASE: Final[dict[str, Any]] = {
    "name": "Agreement",
    "connectorType": "CUSTOM",
    "endpointUrl": "https://crm.acme.example/api",
    "authentication": {
        "type": "OAUTH2",
        "credentials": {
            "tokenEndpoint": "https://login.acme.example/token",
            "clientId": "client",
            "clientSecret": "s3cret",
        },
    },
    "mappings": [{"cxoneField": "contact.external_id", "crmField": "id", "direction": "INBOUND"}],
}

#: Characters where rules tend to differ: controls, line ends, Unicode space, URL syntax,
#: letters of other scripts, and the characters of `${…}` references.
TRICKY: Final = st.sampled_from(
    list("\x00\x01\x1f\x7f\x85\xa0\u2028\u3000\t\n\r ÜßØ日本é:/?#@.-_%~$*{}")
)
TEXT: Final = st.lists(st.one_of(TRICKY, st.characters(max_codepoint=0x2FFF)), max_size=10).map(
    "".join
)
URL_LIKE: Final = st.builds(
    lambda scheme, host, port, path: f"{scheme}{host}{port}{path}",
    st.sampled_from(["https://", "http://", "ftp://", "https:/", ""]),
    st.sampled_from(["crm.acme.example", "10.0.0.7", "a", "-bad", "crm_x.example", "日本.example"]),
    st.sampled_from(["", ":0", ":8443", ":65535", ":65536", ":0080", ":x"]),
    st.one_of(st.just(""), TEXT.map(lambda t: "/" + t), TEXT.map(lambda t: "?" + t)),
)
SIZED: Final = st.builds(
    lambda char, size: char * size,
    st.sampled_from(["n", "é", "日"]),
    st.sampled_from([0, 1, 63, 64, 65, 199, 200, 201, 255, 256, 257, 1024, 1025, 2000, 2001]),
)
SCALARS: Final = st.one_of(st.none(), st.booleans(), st.integers(-2, 20_000), st.just(29.0))
VALUES: Final = st.one_of(TEXT, URL_LIKE, SIZED, SCALARS, st.just(MASK))


def _set(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """BASE with one to three fields (or structures) replaced by drawn values."""
    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        what = draw(
            st.sampled_from(
                [
                    "name", "description", "endpointUrl", "version", "connectorType",
                    "lifecycleStatus", "credential", "auth-type", "mapping", "mappings",
                    "syncSettings", "labels", "unknown-key",
                ]
            )
        )  # fmt: skip
        value = draw(VALUES)
        if what in ("name", "description", "endpointUrl", "version"):
            doc[what] = value
        elif what == "connectorType":
            doc[what] = draw(st.sampled_from(["CUSTOM", "SALESFORCE", "DYNAMICS", "custom", 1]))
        elif what == "lifecycleStatus":
            doc[what] = draw(st.sampled_from(["DRAFT", "ACTIVE", "INACTIVE", "ERROR", "draft"]))
        elif what == "credential":
            key = draw(st.sampled_from(["tokenEndpoint", "clientId", "scope", "audience"]))
            doc["authentication"]["credentials"][key] = value
        elif what == "auth-type":
            doc["authentication"] = {
                "type": draw(st.sampled_from(["BASIC", "OAUTH2", "API_KEY", "NONE"])),
                "credentials": {
                    key: "s3cret" if key in SECRET_KEYS else draw(st.one_of(TEXT, st.just("u")))
                    for key in draw(
                        st.lists(
                            st.sampled_from(
                                ["username", "password", "apiKey", "headerName", "clientId"]
                            ),
                            unique=True,
                            max_size=3,
                        )
                    )
                },
            }
        elif what == "mapping":
            key = draw(st.sampled_from(["cxoneField", "crmField", "direction", "transformation"]))
            if not doc["mappings"]:
                doc["mappings"] = copy.deepcopy(BASE["mappings"])
            _set(doc, ("mappings", 0, key), value)
        elif what == "mappings":
            count = draw(st.integers(0, 3))
            doc["mappings"] = [
                {
                    "cxoneField": draw(st.sampled_from(["contact.email", "contact.custom.é", "x"])),
                    "crmField": draw(st.sampled_from(["id", "Id", "email", "feld_ß"])),
                    "direction": draw(st.sampled_from(["INBOUND", "OUTBOUND", "BIDIRECTIONAL"])),
                }
                for _ in range(count)
            ]
        elif what == "syncSettings":
            key = draw(st.sampled_from(["batchSize", "retryAttempts", "syncIntervalMinutes", "x"]))
            doc["syncSettings"] = {key: value}
        elif what == "labels":
            key = draw(st.one_of(TEXT, SIZED, st.sampled_from(["team", "a/b", "x.y-z"])))
            if not key.startswith("cxrecon.io/") and key != "managed-by":
                doc["labels"] = {key: value}
        else:
            doc["extraKey"] = value
    return doc


def api_takes(doc: dict[str, Any]) -> bool:
    # The body as the API receives it: JSON text (29.0 stays a float, as a client sends it).
    body = json.loads(json.dumps(doc))
    try:
        check_document(body)
    except ApiProblem:
        return False
    return True


def as_dumped(doc: dict[str, Any]) -> dict[str, Any]:
    """The file dump would write for what the API stored: defaults filled, secrets as
    references (CXone never returns them)."""
    stored = with_defaults(json.loads(json.dumps(doc)))
    if stored["lifecycleStatus"] == "ERROR":
        # Only the server sets ERROR; dump writes the state to return to (its error_state).
        stored["lifecycleStatus"] = "ACTIVE"
    credentials = stored["authentication"]["credentials"]
    for key in credentials:
        if key in SECRET_KEYS:
            credentials[key] = "${env:AGREEMENT_" + key.upper() + "}"
    return stored


def cxrecon_takes(doc: dict[str, Any]) -> bool:
    file_form = as_dumped(doc) if api_takes(doc) else _file_form(doc)
    if connector_checker().findings(file_form):
        return False
    errors = [f for f in lint_connector(file_form, DOCUMENT) if f.severity == "error"]
    return all(f.rule in OWN_RULES for f in errors)


def _file_form(doc: dict[str, Any]) -> dict[str, Any]:
    """A document the API refused, as a user would write it in git: the same values, secrets
    as references, the keys the file format requires filled."""
    out = copy.deepcopy(doc)
    out.setdefault("lifecycleStatus", "DRAFT")
    out.setdefault("mappings", [])
    auth = out.get("authentication")
    credentials = auth.get("credentials") if isinstance(auth, dict) else None
    if isinstance(credentials, dict):
        for key in list(credentials):
            if key in SECRET_KEYS:
                credentials[key] = "${env:AGREEMENT_" + key.upper() + "}"
    return out


@SETTINGS
@given(documents())
def test_the_api_and_the_published_schema_take_the_same_connectors(doc: dict[str, Any]) -> None:
    api = api_takes(doc)
    assert cxrecon_takes(doc) == api, (
        f"the API {'takes' if api else 'refuses'} {doc!r}, cxrecon does not agree: "
        f"{connector_checker().findings(_file_form(doc))}"
    )


def test_the_values_of_the_issue_are_taken_by_both() -> None:
    doc = copy.deepcopy(BASE)
    doc["name"] = "Kundendaten-Ünïcødé-日本"
    doc["mappings"] = [
        {
            "cxoneField": "contact.custom.préférence",
            "crmField": "crm_feld_00_ß",
            "direction": "INBOUND",
        }
    ]
    assert api_takes(doc)
    assert cxrecon_takes(doc)


def test_a_line_break_at_the_end_is_refused_by_both() -> None:
    # Python's `$` matches before a final newline: the schema must not take what the API
    # (which uses fullmatch) refuses.
    for path in (("name",), ("version",), ("endpointUrl",), ("mappings", 0, "crmField")):
        doc = copy.deepcopy(BASE)
        _set(doc, path, "1.0.0\n" if path == ("version",) else "https://a.example/x\n")
        assert not api_takes(doc), path
        assert not cxrecon_takes(doc), path


OPENAPI: Final = Path(__file__).parents[2] / "schemas" / "cxone-api.openapi.yaml"


def test_the_limits_are_the_apis_in_all_three_places() -> None:
    """Sizes, ranges and patterns: the emulator's constants, the OpenAPI document's
    ConnectorWrite components and the connector schema state the same numbers."""
    openapi = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))["components"]["schemas"]
    schema = load_schema("connector.schema.json")
    defs, props = schema["$defs"], schema["properties"]
    mapping = defs["mapping"]["properties"]
    assert defs["connectorName"]["maxLength"] == openapi["Name"]["maxLength"] == api.NAME_MAX
    assert defs["fieldName"]["maxLength"] == openapi["Text"]["maxLength"] == api.FIELD_MAX
    assert props["description"]["maxLength"] == api.DESCRIPTION_MAX
    assert props["endpointUrl"]["maxLength"] == openapi["EndpointUrl"]["maxLength"] == api.URL_MAX
    assert defs["apiUrl"]["pattern"] == openapi["EndpointUrl"]["pattern"]
    assert defs["apiUrl"]["pattern"] == f"^{api.ENDPOINT_URL.pattern}$"
    assert props["version"]["pattern"] == openapi["Version"]["pattern"]
    assert props["version"]["maxLength"] == openapi["Version"]["maxLength"] == 64
    assert props["mappings"]["maxItems"] == openapi["Mappings"]["maxItems"] == api.MAPPINGS_MAX
    transformation = openapi["Mapping"]["properties"]["transformation"]
    assert mapping["transformation"]["maxLength"] == transformation["maxLength"]
    assert transformation["maxLength"] == api.TRANSFORMATION_MAX
    labels = props["labels"]
    assert labels["maxProperties"] == openapi["Labels"]["maxProperties"] == api.LABELS_MAX
    assert labels["propertyNames"]["pattern"] == openapi["Labels"]["propertyNames"]["pattern"]
    assert labels["propertyNames"]["pattern"] == f"^{api.LABEL_KEY.pattern}$"
    assert labels["additionalProperties"]["maxLength"] == api.LABEL_VALUE_MAX
    for key, (low, high) in api.SYNC_SETTING_RANGES.items():
        ours = props["syncSettings"]["properties"][key]
        theirs = openapi["SyncSettings"]["properties"][key]
        assert (ours["minimum"], ours["maximum"]) == (theirs["minimum"], theirs["maximum"])
        assert (ours["minimum"], ours["maximum"]) == (low, high)
    credentials = props["authentication"]["properties"]["credentials"]
    assert credentials["maxProperties"] == api.CREDENTIALS_MAX
    by_type = {"BASIC": "basic", "OAUTH2": "oauth2", "API_KEY": "apiKey"}
    for auth_type, (required, optional) in api.CREDENTIAL_KEYS.items():
        properties = defs[f"{by_type[auth_type]}Credentials"]["properties"]
        assert set(properties) == {*required, *optional}, auth_type
        for key, value in properties.items():
            target = defs["secretReference"] if "$ref" in value else value
            assert target["maxLength"] == api.CREDENTIAL_VALUE_MAX, key
