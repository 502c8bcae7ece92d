"""docs/lint-rules.md against the code: every lint rule is documented with its severity, every
other rule id the page names is one the code reports, and the transformations listed are
the linter's."""

from __future__ import annotations

import ast
import re
from typing import Final

from reconciler.load.catalog import TRANSFORMATIONS
from reconciler.load.lint_rules import RULES

from .documents import REPO

PAGE: Final = REPO / "docs" / "lint-rules.md"
ROW: Final = re.compile(r"^\| `([a-z0-9-]+)` \| (error|warning|error / warning) \|", re.M)


def sections() -> dict[str, str]:
    text = PAGE.read_text(encoding="utf-8")
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def rows(section: str) -> dict[str, str]:
    found = ROW.findall(section)
    ids = [rule for rule, _ in found]
    assert len(ids) == len(set(ids)), f"a rule documented twice: {ids}"
    return dict(found)


def string_literals() -> set[str]:
    """Every string constant in the package's source: where a reported rule id is written."""
    literals: set[str] = set()
    for path in (REPO / "reconciler").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        literals |= {
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
        }
    return literals


def test_every_lint_rule_is_documented_with_its_severity() -> None:
    documented = rows(sections()["Lint rules"])
    assert sorted(set(RULES) - set(documented)) == [], "lint rules missing from the page"
    assert sorted(set(documented) - set(RULES)) == [], "the page's lint table names unknown rules"
    wrong = {
        r: (documented[r], RULES[r].severity) for r in RULES if documented[r] != RULES[r].severity
    }
    assert wrong == {}, "documented severity differs from the code's"


def test_every_other_documented_rule_is_one_the_code_reports() -> None:
    literals = string_literals()
    others: dict[str, str] = {}
    for title, section in sections().items():
        if title != "Lint rules":
            others |= rows(section)
    assert len(others) >= 20
    assert sorted(set(others) & set(RULES)) == [], "a lint rule documented outside its table"
    assert sorted(set(others) - literals) == [], "documented rule ids the code never reports"


def test_the_transformations_listed_are_the_linters() -> None:
    section = sections()["The field catalog and the transformations"]
    listed = section.split("Supported transformations:", 1)[1]
    assert sorted(re.findall(r"`([a-z0-9_]+)`", listed)) == sorted(TRANSFORMATIONS)
