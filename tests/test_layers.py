"""What import-linter cannot see (docs/architecture.md, "Layers"): the reconcile path never
imports the emulator, the emulator leans only on shared models and settings, and a package
uses only the modules another one names public (its `__init__.py`'s `__all__`)."""

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
#: Packages whose `__all__` is not a list of modules: the facade's is its API of functions
#: (what `reconciler.__all__` exports); templates holds package data only.
NOT_LISTING_MODULES = {"facade", "templates"}


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


def packages() -> dict[str, set[str]]:
    """Each subpackage of reconciler and the modules (and subpackages) in it."""
    return {
        d.name: {p.stem for p in d.glob("*.py") if p.stem != "__init__"}
        | {p.name for p in d.iterdir() if (p / "__init__.py").is_file()}
        for d in sorted(PACKAGE.iterdir())
        if (d / "__init__.py").is_file()
    }


def public_modules(package: str) -> set[str] | None:
    """The names in `__all__` of the package's `__init__.py` (None without one)."""
    tree = ast.parse((PACKAGE / package / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return set(ast.literal_eval(node.value))
    return None


def modules_imported(tree: ast.Module) -> Iterator[str]:
    """Every module an import names; `from reconciler.load import cache` names
    `reconciler.load.cache` (a name that is no module is ignored by the caller)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.count(".") == 1 and node.module.startswith("reconciler."):
                yield from (f"{node.module}.{alias.name}" for alias in node.names)
            else:
                yield node.module


def test_every_package_names_its_public_modules() -> None:
    for package, modules in packages().items():
        if package in NOT_LISTING_MODULES:
            continue
        public = public_modules(package)
        assert public is not None, f"reconciler/{package}/__init__.py has no __all__"
        assert public <= modules, f"{package}: no such module {sorted(public - modules)}"


def test_a_package_imports_only_the_modules_another_names_public() -> None:
    found = packages()
    public = {p: public_modules(p) or set() for p in found}
    offenders = []
    for name, tree in sources():
        own = name.split("/")[0] if "/" in name else None
        for module in modules_imported(tree):
            parts = module.split(".")
            if len(parts) < 3 or parts[0] != "reconciler" or parts[1] == own:
                continue
            package, first = parts[1], parts[2]
            if package in NOT_LISTING_MODULES or first not in found.get(package, set()):
                continue
            if first not in public[package]:
                offenders.append(f"{name} imports {module}, internal to reconciler.{package}")
    assert offenders == []


def test_the_public_module_check_sees_imports() -> None:
    # Guards the test above against passing vacuously.
    tree = ast.parse(
        "from reconciler.load import cache\ndef f():\n    import reconciler.plan.safety\n"
    )
    assert list(modules_imported(tree)) == ["reconciler.load.cache", "reconciler.plan.safety"]
    assert "safety" in packages()["plan"]
    assert "safety" not in (public_modules("plan") or set())
