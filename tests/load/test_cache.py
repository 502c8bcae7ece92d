"""The cache of checked connector files (.cxrecon/cache/): a warm load reports exactly what a
cold one does, for every fixture, valid or not; broken, foreign and truncated entries are
ignored and rewritten; a change of vars, environment, schema or cxrecon's version misses;
`${file:}` references are followed again; no secret value is ever stored; the cache stays
within its bound and is ignored by git."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import reconciler
from reconciler.config.project import EnvironmentConfig
from reconciler.load import cache as cache_module
from reconciler.load.cache import FileCache, code_fingerprint
from reconciler.load.cache_entries import FORMAT
from reconciler.load.desired import LoadResult, read_desired

from .inputs import CANARY, ENVIRONMENT, FIXTURES, connector_yaml

CORPUS = sorted(p for kind in ("good", "bad", "plan") for p in (FIXTURES / kind).rglob("*.yaml"))


def entries(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != ".gitignore")


def same_load(warm: LoadResult, cold: LoadResult) -> None:
    assert warm.diagnostics == cold.diagnostics  # messages, severities, rules and line:col
    assert warm.connectors == cold.connectors  # specs, sources and every field's location
    assert warm.digest == cold.digest
    assert warm.files == cold.files


@pytest.mark.parametrize("fixture", CORPUS, ids=[f"{p.parent.name}/{p.stem}" for p in CORPUS])
def test_a_warm_load_reports_what_a_cold_load_does(
    fixture: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(fixture.parent)
    path = Path(fixture.name)
    cold = read_desired(path, ENVIRONMENT)
    filling = FileCache(tmp_path / "cache")
    assert read_desired(path, ENVIRONMENT, cache=filling) == cold
    assert (filling.hits, filling.misses) == (0, 1)

    warm_cache = FileCache(tmp_path / "cache")
    warm = read_desired(path, ENVIRONMENT, cache=warm_cache)

    assert (warm_cache.hits, warm_cache.misses, warm.parsed, warm.reused) == (1, 0, 0, 1)
    same_load(warm, cold)
    strict = FileCache(tmp_path / "cache")
    same_load(
        read_desired(path, ENVIRONMENT, strict=True, cache=strict),
        read_desired(path, ENVIRONMENT, strict=True),
    )
    assert strict.misses == 1  # --strict is part of the key


def test_a_whole_folder_warm_is_the_folder_cold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "connectors"
    shutil.copytree(FIXTURES / "bad", folder)
    for good in (FIXTURES / "good").glob("*.yaml"):
        shutil.copy(good, folder / good.name)
    monkeypatch.chdir(tmp_path)
    cold = read_desired(Path("connectors"), ENVIRONMENT)
    read_desired(Path("connectors"), ENVIRONMENT, cache=FileCache(tmp_path / "cache"))
    warm_cache = FileCache(tmp_path / "cache")
    warm = read_desired(Path("connectors"), ENVIRONMENT, cache=warm_cache)
    assert warm_cache.misses == 0
    assert warm_cache.hits == len(cold.files) > 40
    same_load(warm, cold)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "connectors").mkdir()
    for name in ("alpha", "beta", "gamma"):
        (tmp_path / "connectors" / f"{name}.yaml").write_text(connector_yaml(name.title()))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def load(root: Path, env: EnvironmentConfig = ENVIRONMENT) -> tuple[LoadResult, FileCache]:
    files = FileCache.for_project(root)
    result = read_desired(Path("connectors"), env, cache=files)
    files.close()
    return result, files


@pytest.mark.parametrize("damage", ["truncated", "corrupted", "foreign", "empty", "other-format"])
def test_a_damaged_entry_is_ignored_and_rewritten(project: Path, damage: str) -> None:
    cold, _ = load(project)
    stored = entries(project / ".cxrecon" / "cache")
    assert len(stored) == 3
    first, other = stored[0], stored[1]
    if damage == "truncated":
        first.write_bytes(first.read_bytes()[:-40])
    elif damage == "corrupted":
        data = bytearray(first.read_bytes())
        data[len(data) // 2] ^= 0x20
        first.write_bytes(bytes(data))
    elif damage == "foreign":
        shutil.copy(other, first)  # a whole, valid entry, of another file
    elif damage == "empty":
        first.write_bytes(b"")
    else:
        magic = f"cxrecon-cache {FORMAT} ".encode()
        first.write_bytes(first.read_bytes().replace(magic, b"cxrecon-cache 99 "))

    warm, files = load(project)

    assert (files.hits, files.misses, files.ignored) == (2, 1, 1)
    same_load(warm, cold)
    again, files = load(project)
    assert (files.hits, files.misses) == (3, 0)  # rewritten whole
    same_load(again, cold)


def test_vars_environment_and_version_are_part_of_the_key(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "connectors" / "alpha.yaml").write_text(
        connector_yaml("Alpha", endpoint="${var:sf_instance}/api")
    )
    load(project)
    assert load(project)[1].misses == 0

    other_value = EnvironmentConfig("test", vars={"sf_instance": "https://other.example"})
    result, files = load(project, other_value)
    assert files.misses == 3  # any var of the environment changes every key
    alpha = next(c for c in result.connectors if c.name == "Alpha")
    assert alpha.spec.endpoint_url == "https://other.example/api"

    renamed = EnvironmentConfig("prod", vars=dict(ENVIRONMENT.vars))
    assert load(project, renamed)[1].misses == 3  # messages name the environment

    version = reconciler.__version__
    monkeypatch.setattr(reconciler, "__version__", version + ".post1")
    code_fingerprint.cache_clear()
    try:
        assert load(project)[1].misses == 3
    finally:
        monkeypatch.setattr(reconciler, "__version__", version)
        code_fingerprint.cache_clear()
    assert load(project)[1].misses == 0


def test_the_schema_and_code_are_part_of_the_key(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(project)
    # Another copy of the package (an upgrade, an edit): its own schema and modules.
    package = Path(reconciler.__file__).parent
    copy = tmp_path / "package"
    for part in (*cache_module._CODE_MODULES, "__init__.py"):
        (copy / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(package / part, copy / part)
    for sub in cache_module._CODE_PACKAGES:
        shutil.copytree(package / sub, copy / sub, ignore=shutil.ignore_patterns("__pycache__"))
    schema = (package.parent / "schemas" / "connector.schema.json").read_bytes()
    same = cache_module.fingerprint_of(reconciler.__version__, schema, copy)
    assert cache_module.fingerprint_of(reconciler.__version__, schema, copy) == same
    changed_schema = schema.replace(b'"maxItems": 500', b'"maxItems": 499', 1)
    assert changed_schema != schema
    assert cache_module.fingerprint_of(reconciler.__version__, changed_schema, copy) != same
    lint = copy / "load" / "lint.py"
    lint.write_text(lint.read_text() + "\n# edited\n")
    assert cache_module.fingerprint_of(reconciler.__version__, schema, copy) != same


def test_a_file_reference_is_followed_again_when_its_target_moves(
    project: Path, tmp_path: Path
) -> None:
    (project / ".secrets").mkdir()
    (project / ".secrets" / "key").write_text("value\n")
    text = connector_yaml("Alpha").replace("${env:CRM_API_KEY}", "${file:.secrets/key}")
    assert "${file:.secrets/key}" in text
    (project / "connectors" / "alpha.yaml").write_text(text)
    assert load(project)[0].ok
    assert load(project)[1].misses == 0

    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    shutil.rmtree(project / ".secrets")
    os.symlink(outside, project / ".secrets")  # now leads out of the project
    warm, files = load(project)
    cold = read_desired(Path("connectors"), ENVIRONMENT)
    assert files.misses == 1
    assert [d.rule for d in cold.errors] == ["ref-outside-project"]
    same_load(warm, cold)


@pytest.mark.parametrize(
    "written",
    [
        '"${file:.secrets/key}"',
        "'${file:.secrets/key}'",
        "${file:.secrets/key}",
        '"\\u0024{file:.secrets/key}"',  # a YAML escape hides it from a scan of the bytes
        '"\\x24{fi\\x6ce:.secrets/key}"',
    ],
)
def test_a_file_reference_however_written_is_followed_again(
    project: Path, tmp_path: Path, written: str
) -> None:
    (project / ".secrets").mkdir()
    (project / ".secrets" / "key").write_text("value\n")
    text = connector_yaml("Alpha").replace("${env:CRM_API_KEY}", written)
    (project / "connectors" / "alpha.yaml").write_text(text)
    assert load(project)[0].ok, load(project)[0].errors
    assert load(project)[1].misses == 0

    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    shutil.rmtree(project / ".secrets")
    os.symlink(outside, project / ".secrets")
    warm, _ = load(project)
    cold = read_desired(Path("connectors"), ENVIRONMENT)
    assert [d.rule for d in cold.errors] == ["ref-outside-project"]
    same_load(warm, cold)


def test_no_secret_value_reaches_the_cache(project: Path) -> None:
    (project / "connectors" / "leaky.yaml").write_text(
        connector_yaml("Leaky").replace("${env:CRM_API_KEY}", CANARY)
    )
    result, _ = load(project)
    assert "secret-literal" in {d.rule for d in result.errors}
    load(project)
    stored = entries(project / ".cxrecon" / "cache")
    assert len(stored) == 4
    for entry in stored:
        assert CANARY.encode() not in entry.read_bytes()


def test_the_cache_is_ignored_by_git_and_stays_within_its_bound(project: Path) -> None:
    folder = project / "connectors"
    for name in ("delta", "epsilon"):
        (folder / f"{name}.yaml").write_text(connector_yaml(name.title()))
    load(project)
    directory = project / ".cxrecon" / "cache"
    assert (directory / ".gitignore").read_text().splitlines()[-1] == "*"
    stored = entries(directory)
    assert len(stored) == 5
    size = max(p.stat().st_size for p in stored)
    for entry in stored:
        os.utime(entry, (1_000_000, 1_000_000))  # all written long ago
    stale = {p for p in stored if b"Alpha" in p.read_bytes() or b"Beta" in p.read_bytes()}
    (folder / "alpha.yaml").unlink()
    (folder / "beta.yaml").unlink()
    (folder / "zeta.yaml").write_text(connector_yaml("Zeta"))

    bounded = FileCache.for_project(project, max_bytes=int(size * 5.5))
    read_desired(Path("connectors"), ENVIRONMENT, cache=bounded)
    bounded.close()

    left = set(entries(directory))
    assert sum(p.stat().st_size for p in left) <= size * 5.5
    assert len(left) == 4
    assert not stale & left  # entries no run used lately went first


def test_an_unwritable_cache_only_makes_runs_cold(project: Path) -> None:
    (project / ".cxrecon").write_text("not a folder")
    result, files = load(project)
    assert result.ok
    assert (files.hits, files.misses, files.written) == (0, 3, 0)
