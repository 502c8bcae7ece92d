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


SETTING: Final = re.compile(r"\b(?:CXONE|CXRECON)_[A-Z_]*[A-Z]\b")


def settings_read() -> set[str]:
    """The settings the package reads: string constants that are a setting's name."""
    found = set()
    for path in (REPO / "reconciler").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found |= set(re.findall(rf"^{SETTING.pattern}$", node.value))
    return found


def test_every_setting_the_code_reads_is_documented() -> None:
    settings = settings_read()
    assert len(settings) > 20
    text = all_text()
    assert sorted(s for s in settings if f"`{s}" not in text and f"{s}=" not in text) == []


def test_every_setting_the_documents_name_exists() -> None:
    """A setting named in the documents is read by the code, or is one of the GitHub
    variables and secrets the workflow templates use."""
    templates = "".join(
        p.read_text(encoding="utf-8") for p in (REPO / "reconciler" / "templates").rglob("*.yml")
    )
    known = settings_read() | set(SETTING.findall(templates))
    assert sorted(set(SETTING.findall(all_text())) - known) == []
