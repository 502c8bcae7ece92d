"""docs/configuration.md against the code: every key of cxrecon.yaml and of an environment is
named there, and every CXONE_* / CXRECON_* setting cxrecon reads is documented somewhere."""

from __future__ import annotations

import ast
import json
import re
from typing import Final

from .documents import REPO, all_text

PAGE: Final = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
SCHEMA: Final = json.loads((REPO / "schemas" / "project.schema.json").read_text(encoding="utf-8"))


def test_every_project_and_environment_key_is_named() -> None:
    named = set(re.findall(r"`([A-Za-z]+)`", PAGE))
    keys = set(SCHEMA["properties"]) | set(SCHEMA["$defs"]["environment"]["properties"])
    assert sorted(keys - named) == []


def test_every_setting_the_code_reads_is_documented() -> None:
    settings = set()
    for path in (REPO / "reconciler").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                settings |= set(re.findall(r"^(?:CXONE|CXRECON)_[A-Z_]+$", node.value))
    assert len(settings) > 20
    text = all_text()
    assert sorted(s for s in settings if f"`{s}" not in text and f"{s}=" not in text) == []
