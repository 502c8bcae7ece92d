"""docs/architecture.md stays true: every module, folder and test file it names exists, and
every package of reconciler/ has its row in the packages table."""

from __future__ import annotations

import importlib
import re
from typing import Final

from .documents import REPO, all_text

PAGE: Final = REPO / "docs" / "architecture.md"
PACKAGE: Final = REPO / "reconciler"
#: `cli/NAME.py` and the like: a pattern the page explains, not a file.
PLACEHOLDER: Final = re.compile(r"[A-Z]{2,}")


def named_paths() -> list[tuple[str, str]]:
    """Each `…py` or `…/` path the page names, with the package row it is named in (the
    first cell of a table row of the packages table; "" elsewhere)."""
    found = []
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        row = re.match(r"^\| `([a-z_]+/)` \|", line)
        for token in re.findall(r"`([A-Za-z0-9_./]+(?:\.py|/))`", line):
            if not PLACEHOLDER.search(token) and not token.startswith("."):
                found.append((token, row.group(1) if row else ""))
    return found


def exists(token: str, row: str) -> bool:
    if token.startswith(("tests/", "reconciler/", "schemas/", "docs/", "benchmarks/")):
        return (REPO / token).exists()
    if "/" in token.rstrip("/"):
        return (PACKAGE / token).exists()
    # A bare name: a module (or folder) of its row's package or one of its subfolders, or
    # of reconciler/ itself.
    where = PACKAGE / row if row else PACKAGE
    name = token.rstrip("/")
    return (PACKAGE / token).exists() or any(p.name == name for p in where.rglob(name))


def test_every_path_the_page_names_exists() -> None:
    named = named_paths()
    assert len(named) > 100
    assert [t for t, row in named if not exists(t, row)] == []


def test_every_package_has_a_row() -> None:
    rows = {row for _, row in named_paths() if row}
    packages = {
        f"{p.parent.name}/" for p in PACKAGE.glob("*/__init__.py") if p.parent.name != "templates"
    }
    assert sorted(packages - rows) == []


def test_every_dotted_name_the_documents_give_resolves() -> None:
    """`reconciler.x.y` in README.md and docs/*.md is a module, or a name in one."""
    names = set(re.findall(r"`(reconciler(?:\.[A-Za-z_]\w*)+)", all_text()))
    unresolved = []
    for name in sorted(names):
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                found: object = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attribute in parts[cut:]:
                found = getattr(found, attribute, None)
            break
        if found is None:
            unresolved.append(name)
    assert unresolved == []


#: Packages the page describes as a whole: a click module per command, the local server.
DESCRIBED_WHOLE: Final = ("cli/", "emulator/")


def test_every_module_is_named() -> None:
    """A new module gets its words in the packages table (the command and emulator modules
    excepted: their packages are described as a whole)."""
    named = {token.rsplit("/", 1)[-1] for token, _ in named_paths()}
    unnamed = [
        path.relative_to(PACKAGE).as_posix()
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "__init__.py"
        and path.name not in named
        and not path.relative_to(PACKAGE).as_posix().startswith(DESCRIBED_WHOLE)
    ]
    assert unnamed == []
