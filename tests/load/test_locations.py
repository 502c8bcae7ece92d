"""Locations of loaded documents: the top level recorded while loading, everything deeper
re-derived from the file on first look-up, with the same answers as a full walk."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import pytest

from reconciler.documents import marks as yamlmarks
from reconciler.documents import yamlload
from reconciler.documents.yamlbuild import Builder
from reconciler.documents.yamlload import compose, parse_yaml
from reconciler.load.desired import read_desired

from .inputs import FIXTURES, connector_yaml

YAML_FILES = sorted((FIXTURES / "bad").glob("*.yaml")) + sorted((FIXTURES / "good").glob("*.yaml"))
#: The files that get as far as a document (the others are refused before any value).
LOADABLE = [p for p in YAML_FILES if parse_yaml(p.read_bytes(), "f.yaml").document is not None]


def _walk(raw: bytes, depth: int) -> Builder:
    """The loader's own walk (private: the test compares its two depths)."""
    text = raw.decode("utf-8").removeprefix("\ufeff")
    builder = Builder("f.yaml", depth=depth)
    root = compose(text)
    assert root is not None
    builder.build(root, ())
    return builder


@pytest.mark.parametrize("fixture", LOADABLE, ids=[p.stem for p in LOADABLE])
def test_the_top_level_walk_matches_the_full_walk(fixture: Path) -> None:
    parsed = parse_yaml(fixture.read_bytes(), "f.yaml")
    assert parsed.document is not None
    shallow = _walk(fixture.read_bytes(), yamlmarks.TOP_DEPTH)
    full = _walk(fixture.read_bytes(), yamlload._ALL)
    assert shallow.diagnostics == full.diagnostics
    assert shallow.marks == {p: m for p, m in full.marks.items() if len(p) <= 1}
    assert shallow.key_marks == {p: m for p, m in full.key_marks.items() if len(p) <= 1}
    assert {p: str(loc) for p, loc in parsed.document.locations.items()} == {
        p: f"f.yaml:{line}:{col}" for p, (line, col) in full.marks.items()
    }
    assert {p: str(loc) for p, loc in parsed.document.key_locations.items()} == {
        p: f"f.yaml:{line}:{col}" for p, (line, col) in full.key_marks.items()
    }


def test_a_loaded_connector_knows_where_each_mapping_value_is(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    second = "  - cxoneField: contact.email\n    crmField: Email\n    direction: OUTBOUND\n"
    path.write_text(connector_yaml(extra=second), encoding="utf-8")
    [connector] = read_desired(path).connectors
    lines = path.read_text(encoding="utf-8").splitlines()
    where = connector.location_of("mappings", 1, "crmField")
    assert lines[where.line - 1][where.col - 1 :].startswith(connector.spec.mappings[1].crm_field)
    assert lines[where.line - 1].lstrip().startswith("crmField:")
    assert connector.location_of("name").line == 1
    assert connector.location_of("mappings", 99, "crmField") == connector.location_of("mappings")


def test_merged_values_are_found_through_their_alias() -> None:
    raw = (FIXTURES / "good" / "anchors-and-merge-keys.yaml").read_bytes()
    document = parse_yaml(raw, "f.yaml").document
    assert document is not None
    # mappings[1].direction comes from the anchored mapping via `<<: *inbound`.
    assert str(document.locations[("mappings", 1, "direction")]) == "f.yaml:13:16"
    assert ("mappings", 1, "nothing") not in document.locations


def test_valid_connectors_keep_no_per_value_locations(tmp_path: Path) -> None:
    mappings = "".join(
        f"  - cxoneField: contact.custom.field_{m:02d}\n    crmField: field_{m:02d}\n"
        "    direction: OUTBOUND\n"
        for m in range(19)
    )
    for i in range(200):
        text = connector_yaml(f"C-{i}", extra=mappings)
        (tmp_path / f"c{i:03d}.yaml").write_text(text, encoding="utf-8")
    read_desired(tmp_path / "c000.yaml")  # imports, compiled schemas, caches
    gc.collect()
    tracemalloc.start()
    try:
        result = read_desired(tmp_path)
        gc.collect()
        retained, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(result.connectors) == 200
    # ~7 KiB each (the file's text, top-level marks, the typed spec); keeping the location
    # of every value and key made it ~25 KiB for this 20-mapping connector.
    assert retained / 200 < 12 * 1024
