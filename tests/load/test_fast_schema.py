"""The Rust validity check (jsonschema_rs) judges as jsonschema does: on every fixture, on
generated connectors and their mutations, and on any text in a pattern-checked field."""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from reconciler.documents.fast_schema import (
    PYTHON_WHITESPACE,
    fast_validator,
    inline_refs,
    rust_pattern,
)
from reconciler.documents.schema import (
    CONNECTOR_SCHEMA,
    PROJECT_SCHEMA,
    SchemaChecker,
    connector_checker,
    load_schema,
    partial_connector_checker,
    project_checker,
)
from reconciler.documents.yamlload import parse_yaml

from .inputs import FIXTURES, REPO
from .test_properties import ALL_MUTATIONS, PROPERTY_SETTINGS, Config, valid_connectors


class Pair:
    """Both validators for one published schema."""

    def __init__(self, name: str) -> None:
        schema = inline_refs(load_schema(name), load_schema(name))
        fast = fast_validator(schema)
        assert fast is not None, f"{name} should get the Rust validator"
        self.fast = fast
        self.slow = Draft202012Validator(schema)

    def verdicts(self, data: Any) -> tuple[bool, bool]:
        """(Rust says valid, jsonschema says valid)."""
        return self.fast.is_valid(data), not any(True for _ in self.slow.iter_errors(data))


CONNECTOR = Pair(CONNECTOR_SCHEMA)
PROJECT = Pair(PROJECT_SCHEMA)

FILES = [
    *sorted((FIXTURES / "bad").glob("*.yaml")),
    *sorted((FIXTURES / "good").glob("*.yaml")),
    *sorted((FIXTURES / "plan" / "connectors").rglob("*.yaml")),
    *sorted((REPO / "connectors").rglob("*.yaml")),
]


def _data(path: Path) -> Any:
    document = parse_yaml(path.read_bytes(), path.name).document
    return None if document is None else document.data


#: Files that reach the schema (the yaml-* fixtures are refused before it).
LOADED = {path: data for path in FILES if (data := _data(path)) is not None}


SCHEMA_FILES = sorted((REPO / "schemas").glob("*.json"))


def test_every_published_schema_is_checked_here() -> None:
    names = {path.name for path in SCHEMA_FILES}
    assert {CONNECTOR_SCHEMA, PROJECT_SCHEMA, "plan.schema.json"} <= names


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=[p.name for p in SCHEMA_FILES])
def test_every_published_schema_is_a_well_formed_2020_12_schema(path: Path) -> None:
    # SchemaChecker trusts the schemas it is given (no check_schema on every run): this is
    # where a malformed one is caught.
    schema = load_schema(path.name)
    Draft202012Validator.check_schema(schema)
    Draft202012Validator.check_schema(inline_refs(schema, schema))


@pytest.mark.parametrize("checker", [connector_checker, partial_connector_checker, project_checker])
def test_the_schemas_the_checkers_judge_by_are_well_formed(
    checker: Callable[[], SchemaChecker],
) -> None:
    Draft202012Validator.check_schema(checker().schema)


def test_python_whitespace_is_what_re_calls_whitespace() -> None:
    expected = [c for c in range(sys.maxunicode + 1) if re.match(r"\s", chr(c))]
    assert "".join(f"\\x{{{c:x}}}" for c in expected) == PYTHON_WHITESPACE


@pytest.mark.parametrize("path", list(LOADED), ids=[p.stem for p in LOADED])
def test_both_validators_agree_on_every_connector_file(path: Path) -> None:
    fast, slow = CONNECTOR.verdicts(LOADED[path])
    assert fast == slow


def test_the_corpus_has_schema_failures_and_valid_files() -> None:
    verdicts = [CONNECTOR.verdicts(data)[1] for data in LOADED.values()]
    assert verdicts.count(False) >= 15
    assert verdicts.count(True) >= 10


@pytest.mark.parametrize(
    "project",
    [
        {"defaultEnvironment": "prod", "environments": {"prod": {"vars": {"a": "b"}}}},
        {"environments": {"prod": {"vars": {"a": 1}}}},
        {"environments": {"prod": {"unknown": True}}},
        {"safety": {"maxChangeFraction": 2}},
        [],
    ],
)
def test_both_validators_agree_on_project_files(project: Any) -> None:
    fast, slow = PROJECT.verdicts(project)
    assert fast == slow


def _reload(config: Config) -> Any:
    text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    document = parse_yaml(text.encode(), "c.yaml").document
    assert document is not None
    return document.data


@PROPERTY_SETTINGS
@given(valid_connectors(), st.sampled_from(sorted(ALL_MUTATIONS)), st.integers(0, 50))
def test_both_validators_agree_on_generated_mutations(
    config: Config, name: str, index: int
) -> None:
    assert CONNECTOR.verdicts(_reload(config)) == (True, True)
    mutated = copy.deepcopy(config)
    ALL_MUTATIONS[name][0](mutated, index)
    fast, slow = CONNECTOR.verdicts(_reload(mutated))
    assert fast == slow


#: Every string the schema checks with a pattern, as a path into a generated connector.
PATTERN_FIELDS: list[tuple[str | int, ...]] = [
    ("name",),
    ("endpointUrl",),
    ("version",),
    ("mappings", 0, "cxoneField"),
    ("mappings", 0, "crmField"),
    ("mappings", 0, "transformation"),
    ("labels", "team"),
    ("authentication", "credentials", "tokenEndpoint"),
    ("authentication", "credentials", "headerName"),
    ("authentication", "credentials", "apiKey"),
]
#: Characters where regex dialects differ: white space of every kind, line ends, controls.
TRICKY = st.sampled_from(list("\x1c\x1d\x1e\x1f\x85\xa0\u2028\u3000\ufeff\t\n\r\x0b $/."))
TEXT = st.lists(st.one_of(TRICKY, st.characters()), max_size=8).map("".join)
VALID_TEXT = {
    ("name",): "Sync-1",
    ("endpointUrl",): "https://crm.acme.example/x",
    ("version",): "1.2.3",
    ("mappings", 0, "cxoneField"): "contact.email",
    ("mappings", 0, "crmField"): "Email",
    ("mappings", 0, "transformation"): "trim",
    ("labels", "team"): "crm",
    ("authentication", "credentials", "tokenEndpoint"): "https://login.acme.example/t",
    ("authentication", "credentials", "headerName"): "X-Key",
    ("authentication", "credentials", "apiKey"): "${env:KEY}",
}


def _connector_with(path: tuple[str | int, ...], value: str) -> dict[str, Any]:
    auth_type = "OAUTH2" if path[-1] == "tokenEndpoint" else "API_KEY"
    credentials = (
        {
            "tokenEndpoint": "https://login.acme.example/t",
            "clientId": "a",
            "clientSecret": "${env:S}",
        }
        if auth_type == "OAUTH2"
        else {"apiKey": "${env:KEY}", "headerName": "X-Key"}
    )
    data: dict[str, Any] = {
        "name": "Sync-1",
        "lifecycleStatus": "ACTIVE",
        "connectorType": "CUSTOM",
        "endpointUrl": "https://crm.acme.example/x",
        "authentication": {"type": auth_type, "credentials": credentials},
        "mappings": [
            {"cxoneField": "contact.email", "crmField": "Email", "direction": "INBOUND"},
        ],
        "version": "1.2.3",
        "labels": {"team": "crm"},
    }
    target: Any = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return data


@settings(PROPERTY_SETTINGS, max_examples=150)
@given(st.sampled_from(PATTERN_FIELDS), TEXT, st.sampled_from(["", "x", "/x", "\n"]))
def test_both_validators_agree_on_any_text_in_a_checked_field(
    path: tuple[str | int, ...], text: str, suffix: str
) -> None:
    base = VALID_TEXT[path]
    for value in (text, base + text, text + base, base + suffix + text, base + suffix):
        fast, slow = CONNECTOR.verdicts(_connector_with(path, value))
        assert fast == slow, f"{path}: {value!r}: Rust {fast}, jsonschema {slow}"


@pytest.mark.parametrize("char", ["\x1c", "\x1f", "\t", " "])
def test_control_characters_and_spaces_in_a_url_are_refused_by_both(char: str) -> None:
    data = _connector_with(("endpointUrl",), f"https://crm.acme.example/a{char}b")
    assert CONNECTOR.verdicts(data) == (False, False)


@pytest.mark.parametrize("char", ["\x85", "\u3000"])
def test_unicode_white_space_in_a_url_path_is_taken_by_both_as_by_the_api(char: str) -> None:
    data = _connector_with(("endpointUrl",), f"https://crm.acme.example/a{char}b")
    assert CONNECTOR.verdicts(data) == (True, True)


def test_a_final_newline_is_accepted_by_dollar_as_in_python() -> None:
    path = ("authentication", "credentials", "apiKey")
    data = _connector_with(path, "${env:KEY}\n")
    assert CONNECTOR.verdicts(data) == (True, True)
    assert connector_checker().findings(data) == []
    assert CONNECTOR.verdicts(_connector_with(path, "${env:KEY}\n\n")) == (False, False)


def test_a_final_newline_in_a_name_is_refused_as_by_the_api() -> None:
    assert CONNECTOR.verdicts(_connector_with(("name",), "Sync-1\n")) == (False, False)


def test_rust_patterns_spell_out_what_python_means() -> None:
    end = r"(?:\n?\z)"
    assert rust_pattern(r"^a\sb$") == f"^a[{PYTHON_WHITESPACE}]b{end}"
    assert rust_pattern(r"^[^\s]+$") == f"^[^{PYTHON_WHITESPACE}]+{end}"
    assert rust_pattern(r"^\S+") == f"^[^{PYTHON_WHITESPACE}]+"
    assert rust_pattern(r"^\$\{x\}[$\]]") == r"^\$\{x\}[$\]]"


@pytest.mark.parametrize("pattern", [r"^\d+$", r"\bword", r"^[]a]$", r"\w", r"a\Z"])
def test_a_pattern_with_dialect_differences_is_left_to_jsonschema(pattern: str) -> None:
    schema = {"type": "object", "properties": {"v": {"type": "string", "pattern": pattern}}}
    assert fast_validator(schema) is None
    checker = SchemaChecker(schema)
    assert checker.findings({"v": 5})[0].message.startswith("v: expected a string, got")


def test_without_the_rust_validator_python_semantics_still_apply() -> None:
    # Arabic-Indic digits are `\d` to Python's re, not to ECMA regexes.
    checker = SchemaChecker({"type": "string", "pattern": r"^\d+$"})
    assert checker.findings("\u0661\u0662") == []
    assert len(checker.findings("12a")) == 1


def test_only_regexes_are_translated_not_property_names_or_data() -> None:
    schema = {
        "type": "object",
        "properties": {"pattern": {"type": "string", "pattern": r"^\s$"}},
        "not": {"enum": [{"pattern": r"\d"}]},
    }
    fast = fast_validator(schema)
    assert fast is not None  # `\d` in `enum` is data, not a pattern to refuse
    assert fast.is_valid({"pattern": "\x1c"})
    assert not fast.is_valid({"pattern": "x"})
    assert not fast.is_valid({"pattern": r"\d"})


def test_a_value_json_has_no_type_for_is_judged_by_jsonschema() -> None:
    checker = SchemaChecker({"type": "object", "properties": {"v": {"type": "string"}}})
    [finding] = checker.findings({"v": b"bytes"})
    assert finding.message.startswith("v: expected a string")
