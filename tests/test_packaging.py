"""The package ships what it promises: every subpackage listed, schemas as resources."""

from __future__ import annotations

import sys
import tomllib
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_for_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "reconciler").rglob("__init__.py")
    }
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_schemas_are_package_resources() -> None:
    names = {entry.name for entry in resources.files("reconciler.schemas").iterdir()}
    assert {"connector.schema.json", "plan.schema.json", "cxone-api.openapi.yaml"} <= names


def test_python_dash_m_runs_the_cli() -> None:
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "reconciler", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("cxrecon, version ")
