"""What import-linter cannot see (docs/architecture.md, "Layers"): the reconcile path never
imports the emulator, and the emulator leans only on shared models and settings."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "reconciler"

#: The only modules outside the emulator allowed to import it: the CLI's entry points only
#: inside a function, the test harness (reconciler.testing) anywhere.
EMULATOR_ENTRY_POINTS = {"cli/common.py", "cli/emulator.py", "testing.py"}
TOP_LEVEL_IMPORTERS = {"cli/emulator.py", "testing.py"}
#: What the emulator may use from the rest of the package.
#: reconciler.secret: the one definition of which credentials are secret (masked on read).
EMULATOR_MAY_IMPORT = {
    "reconciler.emulator",
    "reconciler.model",
    "reconciler.secret",
    "reconciler.hashing",
    "reconciler.config.settings",
}
EMULATOR_MAY_IMPORT_ERRORS = {"reconciler.errors"}


def imports(tree: ast.Module) -> Iterator[tuple[str, bool]]:
    """(module, at_top_level) for every `import`/`from … import` in a module."""
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, id(node) in top_level
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, id(node) in top_level


def sources() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def test_the_reconcile_path_never_imports_the_emulator() -> None:
    offenders = []
    for name, tree in sources():
        if name.startswith("emulator/"):
            continue
        for module, top in imports(tree):
            if not module.startswith("reconciler.emulator"):
                continue
            if name not in EMULATOR_ENTRY_POINTS or (top and name not in TOP_LEVEL_IMPORTERS):
                offenders.append(f"{name} imports {module}")
    assert offenders == []


def test_the_emulator_imports_only_shared_models_and_settings() -> None:
    allowed = EMULATOR_MAY_IMPORT | EMULATOR_MAY_IMPORT_ERRORS
    offenders = [
        f"{name} imports {module}"
        for name, tree in sources()
        if name.startswith("emulator/")
        for module, _ in imports(tree)
        if module.startswith("reconciler")
        and not any(module == a or module.startswith(a + ".") for a in allowed)
    ]
    assert offenders == []


def test_the_layer_check_sees_imports() -> None:
    # Guards the two tests above against passing vacuously.
    tree = ast.parse("import reconciler.emulator\ndef f():\n    from reconciler.x import y\n")
    assert list(imports(tree)) == [("reconciler.emulator", True), ("reconciler.x", False)]
