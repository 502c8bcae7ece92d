"""The `slow` list of tests/conftest.py names tests that exist: a module renamed or a test
renamed would otherwise fall silently into the fast loop (`pytest -m "not slow"`)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import SLOW_MODULES

ROOT = Path(__file__).resolve().parents[1]


def test_every_slow_entry_names_a_test_module_or_a_test_in_one() -> None:
    missing: list[str] = []
    for entry in sorted(SLOW_MODULES):
        module, _, name = entry.partition("::")
        path = ROOT / module
        if not path.is_file():
            missing.append(entry)
            continue
        if name:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            functions = {
                node.name
                for node in ast.walk(tree)
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            }
            if name.split("[")[0] not in functions:
                missing.append(entry)
    assert missing == []
