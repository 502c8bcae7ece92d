"""The public Python API: `reconciler.__all__` is the facade and its values, `import
reconciler` stays cheap, and the README's "Use it from Python" example runs as written."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import reconciler

ROOT = Path(__file__).resolve().parents[1]


def test_every_public_name_resolves_and_nothing_else_is_promised() -> None:
    exported = set(reconciler.__all__) - {"__version__"}
    assert exported == set(reconciler._EXPORTS)
    for name in sorted(exported):
        value = getattr(reconciler, name)
        assert getattr(value, "__name__", name) == name


def test_the_facade_is_what_the_cli_the_controller_and_the_tests_call() -> None:
    callers = {
        "reconciler/cli/apply.py": "apply_desired",
        "reconciler/controller/cycle.py": "apply_desired",
        "tests/apply/helpers.py": "apply_desired",
        "reconciler/cli/tenant.py": "plan_once",
    }
    for path, function in callers.items():
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            and f"{node.module}.".startswith("reconciler.facade.")
            for alias in node.names
        }
        assert function in imported, path


def test_import_reconciler_does_not_import_the_http_stack() -> None:
    heavy = "('httpx', 'jsonschema', 'deepdiff')"
    code = f"import sys, reconciler; print(sorted(m for m in sys.modules if m in {heavy}))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_the_readme_python_example_plans_and_applies_the_sample_connectors(
    tmp_path: Path,
) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Use it from Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    shutil.copytree(ROOT / "connectors", tmp_path / "connectors")
    shutil.copy(ROOT / "cxrecon.yaml", tmp_path / "cxrecon.yaml")

    done = subprocess.run(
        [sys.executable, "-c", code.group(1)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert "Plan: 4 to create, 0 unchanged." in done.stdout
    assert "'applied': 4" in done.stdout
    assert "Traceback" not in done.stderr


def test_library_calls_leave_the_garbage_collector_alone(tmp_path: Path) -> None:
    import gc

    shutil.copytree(ROOT / "connectors", tmp_path / "connectors")
    shutil.copy(ROOT / "cxrecon.yaml", tmp_path / "cxrecon.yaml")
    before = (gc.isenabled(), gc.get_threshold())
    project = reconciler.open_project(tmp_path)
    loaded = reconciler.load_desired(project)
    assert len(loaded.connectors) == 4
    assert (gc.isenabled(), gc.get_threshold()) == before
