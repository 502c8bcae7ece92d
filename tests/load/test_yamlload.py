"""The strict YAML loader: what it accepts, what it refuses, and where it says so."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.documents import yamlload
from reconciler.documents.yamlload import MAX_FILE_BYTES, parse_yaml

from .inputs import FIXTURES


def _errors(raw: bytes) -> list[tuple[int, int, str]]:
    return [
        (d.location.line, d.location.col, d.rule)
        for d in parse_yaml(raw, "f.yaml").diagnostics
        if d.location is not None
    ]


def test_every_duplicate_key_in_a_file_is_reported() -> None:
    raw = b"a: 1\nb:\n  c: 1\n  c: 2\na: 3\n"
    assert _errors(raw) == [(4, 3, "yaml-duplicate-key"), (5, 1, "yaml-duplicate-key")]


def test_duplicate_key_keeps_the_first_value_for_further_checks() -> None:
    parsed = parse_yaml(b"a: first\na: second\n", "f.yaml")
    assert parsed.document is not None
    assert parsed.document.data == {"a": "first"}


def test_keys_are_their_literal_text_not_booleans_or_numbers() -> None:
    parsed = parse_yaml(b"on: 1\n1.0: x\nnull: y\n", "f.yaml")
    assert parsed.document is not None
    assert parsed.document.data == {"on": 1, "1.0": "x", "null": "y"}


def test_scalars_resolve_like_yaml_but_timestamps_stay_text() -> None:
    parsed = parse_yaml(b"i: 0x1F\nf: 1.5\nb: true\nn: ~\nd: 2024-05-01\ns: '1'\n", "f.yaml")
    assert parsed.document is not None
    assert parsed.document.data == {
        "i": 31,
        "f": 1.5,
        "b": True,
        "n": None,
        "d": "2024-05-01",
        "s": "1",
    }


def test_a_complex_mapping_key_is_refused() -> None:
    assert _errors(b"? [a, b]\n: 1\n") == [(1, 3, "yaml-key-type")]


def test_locations_index_every_value_and_key_by_path() -> None:
    raw = b"mappings:\n  - cxoneField: contact.email\n    direction: INBOUND\n"
    document = parse_yaml(raw, "f.yaml").document
    assert document is not None
    assert str(document.locations[("mappings", 0, "direction")]) == "f.yaml:3:16"
    assert str(document.key_locations[("mappings", 0, "direction")]) == "f.yaml:3:5"
    assert str(document.location_of(("mappings", 0, "missing", 3))) == "f.yaml:2:5"


def test_oversized_input_is_refused_before_parsing() -> None:
    raw = b"a: " + b"x" * MAX_FILE_BYTES + b"\n"
    parsed = parse_yaml(raw, "big.yaml")
    assert parsed.document is None
    assert [d.rule for d in parsed.diagnostics] == ["yaml-size"]
    assert "over the 1,048,576-byte limit" in parsed.diagnostics[0].message


def test_utf16_is_named_as_such() -> None:
    parsed = parse_yaml("a: 1\n".encode("utf-16"), "f.yaml")
    assert [d.message for d in parsed.diagnostics] == ["file is UTF-16 encoded; save it as UTF-8"]


def test_bad_byte_column_counts_characters_not_bytes() -> None:
    # "é" is two bytes in UTF-8 but one column in an editor.
    assert _errors(b"a: \xc3\xa9\xe9\n") == [(1, 5, "yaml-encoding")]


def test_aliases_within_the_limit_are_expanded() -> None:
    parsed = parse_yaml(b"a: &x {k: v}\nb: *x\n", "f.yaml")
    assert parsed.document is not None
    assert parsed.document.data == {"a": {"k": "v"}, "b": {"k": "v"}}


def test_tabs_inside_quoted_values_are_fine() -> None:
    parsed = parse_yaml(b'a: "x\ty"\n', "f.yaml")
    assert parsed.document is not None
    assert parsed.document.data == {"a": "x\ty"}


YAML_FIXTURES = sorted((FIXTURES / "bad").glob("yaml-*.yaml")) + sorted(
    (FIXTURES / "good").glob("*.yaml")
)


@pytest.mark.parametrize("fixture", YAML_FIXTURES, ids=[p.stem for p in YAML_FIXTURES])
def test_pure_python_loader_agrees_with_libyaml(
    fixture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = fixture.read_bytes()
    fast = parse_yaml(raw, "f.yaml")
    monkeypatch.setattr(yamlload, "Loader", yaml.SafeLoader)
    pure = parse_yaml(raw, "f.yaml")
    assert [(d.location, d.rule) for d in pure.diagnostics] == [
        (d.location, d.rule) for d in fast.diagnostics
    ]
    assert (pure.document is None) == (fast.document is None)
    if pure.document is not None and fast.document is not None:
        assert pure.document.data == fast.document.data
        assert dict(pure.document.locations) == dict(fast.document.locations)


def test_libyaml_is_used_when_available() -> None:
    assert yaml.__with_libyaml__
    assert yamlload.Loader is yaml.CSafeLoader


# --- issue 13: numbers too large, unclosed quotes ------------------------------------------


@pytest.mark.parametrize(
    "number", ["9" * 5000, "-" + "9" * 31, "0b" + "1" * 20_000, "0x" + "f" * 40, "1_000" * 10]
)
def test_an_integer_too_long_to_mean_anything_is_an_error_at_its_spot(number: str) -> None:
    raw = f"name: x\nsyncSettings:\n  batchSize: {number}\n".encode()
    parsed = parse_yaml(raw, "f.yaml")
    assert parsed.document is None  # no schema noise about a value that means nothing
    (diagnostic,) = parsed.diagnostics
    assert diagnostic.location is not None
    assert (diagnostic.location.line, diagnostic.location.col) == (3, 14)
    assert diagnostic.rule == "yaml-number-too-large"
    assert "9999" not in diagnostic.message
    assert "1111" not in diagnostic.message


def test_integers_of_ordinary_length_still_load() -> None:
    parsed = parse_yaml(b"big: 123456789012345678901234567890\nneg: -42\n", "f.yaml")
    assert parsed.document is not None
    assert parsed.document.data == {"big": 123456789012345678901234567890, "neg": -42}


@pytest.mark.parametrize("loader", [yaml.CSafeLoader, yaml.SafeLoader])
@pytest.mark.parametrize("quote", ['"', "'"])
def test_an_unclosed_quote_is_reported_where_it_starts(
    quote: str, loader: type[yaml.SafeLoader], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yamlload, "Loader", loader)
    raw = f"name: x\ndescription: {quote}never closed\nversion: 1.0.0\nlabels: {{}}\n".encode()
    (diagnostic,) = parse_yaml(raw, "f.yaml").diagnostics
    assert diagnostic.rule == "yaml-syntax"
    assert diagnostic.location is not None
    assert (diagnostic.location.line, diagnostic.location.col) == (2, 14)
    assert "quote" in diagnostic.message


@pytest.mark.parametrize("loader", [yaml.CSafeLoader, yaml.SafeLoader])
def test_an_unclosed_quote_before_a_document_marker_is_reported_where_it_starts(
    loader: type[yaml.SafeLoader], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yamlload, "Loader", loader)
    (diagnostic,) = parse_yaml(b'name: x\ndescription: "open\n---\nb: c\n', "f.yaml").diagnostics
    assert diagnostic.location is not None
    assert (diagnostic.location.line, diagnostic.location.col) == (2, 14)


def test_an_unclosed_quote_in_the_project_file_is_reported_where_it_starts(
    tmp_path: Path,
) -> None:
    from reconciler.config.project import load_project
    from reconciler.errors import ConfigError

    (tmp_path / "cxrecon.yaml").write_text("project: x\nconnectors: 'desired\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_project(tmp_path)
    (diagnostic,) = raised.value.diagnostics
    assert diagnostic.location is not None
    assert (diagnostic.location.line, diagnostic.location.col) == (2, 13)
