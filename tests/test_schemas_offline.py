"""The published schemas work without the source checkout and without a network (issue 24):
every `$ref` of every schema the package ships resolves from the package alone, the schemas
are well-formed for check-jsonschema (test extra), and the `$schema` line dump writes into a
connector file leads an editor or check-jsonschema to a schema that exists in the project."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any, Final

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable

from reconciler.cli.main import cli
from reconciler.testing import RunningEmulator

#: What a pip install holds: the `reconciler.schemas` resources, not the repository's folder.
PACKAGED: Final = resources.files("reconciler.schemas")
SCHEMA_NAMES: Final = sorted(
    entry.name for entry in PACKAGED.iterdir() if entry.name.endswith(".schema.json")
)
OFFLINE: Final = "http://127.0.0.1:9"


def _packaged(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(PACKAGED.joinpath(name).read_text(encoding="utf-8"))
    return schema


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            elif key not in ("enum", "const", "examples", "default"):
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _registry() -> Registry:
    """Every packaged schema by its `$id`; no retrieve function, so nothing is downloaded."""
    return Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema))
        for schema in (_packaged(name) for name in SCHEMA_NAMES)
    )


def test_the_package_ships_every_published_schema() -> None:
    in_repository = sorted(p.name for p in (Path(__file__).parents[1] / "schemas").glob("*.json"))
    assert in_repository == SCHEMA_NAMES
    assert len(SCHEMA_NAMES) >= 6


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_ref_resolves_from_the_package_alone(name: str) -> None:
    schema = _packaged(name)
    Draft202012Validator.check_schema(schema)
    resolver = _registry().resolver(base_uri=schema["$id"])
    refs = sorted(set(_refs(schema)))
    for ref in refs:
        try:
            resolved = resolver.lookup(ref)
        except Unresolvable as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"{name}: $ref {ref!r} does not resolve offline: {exc!r}")
        assert resolved.contents is not None


def test_a_ref_to_a_schema_the_package_lacks_would_be_caught() -> None:
    resolver = _registry().resolver(base_uri=_packaged("plan.schema.json")["$id"])
    with pytest.raises(Unresolvable):
        resolver.lookup("missing.schema.json")


def _check_jsonschema(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HTTP_PROXY": OFFLINE, "HTTPS_PROXY": OFFLINE, "NO_PROXY": ""}
    env.update(http_proxy=OFFLINE, https_proxy=OFFLINE, no_proxy="")
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--output-format", "json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_check_jsonschema_finds_every_packaged_schema_well_formed(tmp_path: Path) -> None:
    files = []
    for name in SCHEMA_NAMES:
        path = tmp_path / name
        path.write_text(PACKAGED.joinpath(name).read_text(encoding="utf-8"), encoding="utf-8")
        files.append(str(path))
    done = _check_jsonschema("--check-metaschema", *files)
    report = json.loads(done.stdout)
    assert (done.returncode, report["status"], report["errors"]) == (0, "ok", []), done.stderr


@pytest.fixture
def dumped(emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project made from a tenant by `cxrecon dump`, in a folder far from this checkout."""
    emulator.control.seed(
        {
            "name": "Kundendaten-Ünïcødé-日本",
            "connectorType": "CUSTOM",
            "endpointUrl": "https://crm.acme.example/api",
            "authentication": {"type": "API_KEY", "credentials": {"apiKey": "k"}},
            "mappings": [
                {"cxoneField": "contact.external_id", "crmField": "id", "direction": "INBOUND"}
            ],
        }
    )
    project = tmp_path / "team"
    project.mkdir()
    (project / "cxrecon.yaml").write_text("project: team\n", encoding="utf-8")
    monkeypatch.chdir(project)
    env = {
        "CXONE_BASE_URL": emulator.base_url,
        "CXONE_CLIENT_ID": "demo-client",
        "CXONE_CLIENT_SECRET": "demo-secret",
        "NO_COLOR": "1",
    }
    result = CliRunner().invoke(cli, ["dump", "--out", "connectors"], env=env)
    assert result.exit_code == 0, result.output
    return project


def test_the_schema_line_of_a_dumped_file_leads_to_the_schema(dumped: Path) -> None:
    [file] = (dumped / "connectors").glob("*.yaml")
    first = file.read_text(encoding="utf-8").splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert match, first
    schema = (file.parent / match.group(1)).resolve()
    assert schema.is_file(), f"{match.group(1)} does not exist next to {file.name}"
    assert schema.read_bytes() == PACKAGED.joinpath("connector.schema.json").read_bytes()
    # As an editor or a pre-commit hook uses it: check-jsonschema, offline, takes the file.
    done = _check_jsonschema("--schemafile", str(schema), str(file))
    report = json.loads(done.stdout)
    assert (report["status"], report["errors"]) == ("ok", []), done.stdout
