"""The repository is untrusted input for every file cxrecon writes, appends or deletes: with
any set of symbolic links planted in a project (in `.cxrecon/`, a cache shard, `connectors/`,
at temporary-file names, in a dump folder; to folders and files out of the project, or
dangling), validate, plan (with the embedded emulator too), apply, drift --write-back and dump
change no byte out of the project, create nothing there, and replace no file of the project
by a link. Every command ends in an exit code, never a traceback; a refusal is one line."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cli.main import cli
from reconciler.config.project import load_project
from reconciler.load.cache import FileCache
from reconciler.load.cache_entries import FORMAT
from reconciler.load.cache_key import CacheKey
from reconciler.load.checked import CheckedFile, LoadContext, content_hash
from reconciler.load.desired import read_desired
from reconciler.testing import RunningEmulator, start_emulator

API_KEY = "CANARY-boundary-api-key-5d1c"

CONNECTOR = """\
name: {name}
description: Contacts of {name}
lifecycleStatus: ACTIVE
connectorType: CUSTOM
endpointUrl: https://crm.acme.example/{name}
authentication:
  type: API_KEY
  credentials:
    apiKey: ${{env:CRM_API_KEY}}
mappings:
  - cxoneField: contact.external_id
    crmField: id
    direction: INBOUND
"""

PID = os.getpid()  # CliRunner runs the commands in this process: the old temporary names
CACHE = f".cxrecon/cache/v{FORMAT}"
#: Where a repository may hold a link, and whether it stands for a folder.
SITES: dict[str, bool] = {
    ".cxrecon": True,
    ".cxrecon/cache": True,
    CACHE: True,
    "SHARD": True,  # the cache shard alpha.yaml's entry goes to
    "ENTRY": False,  # alpha.yaml's cache entry itself
    ".cxrecon/cache/.gitignore": False,
    ".cxrecon/audit.jsonl": False,
    ".cxrecon/emulator.sqlite": False,
    ".cxrecon/emulator.sqlite-wal": False,
    "connectors": True,
    "connectors/zeta.yaml": False,
    f"connectors/.alpha.yaml.{PID}.tmp": False,
    "dumped": True,
    "dumped/alpha.yaml": False,
    f"dumped/.alpha.yaml.{PID}.tmp": False,
    "dumped/.env.example": False,
}

links = st.dictionaries(st.sampled_from(sorted(SITES)), st.booleans(), max_size=5)


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    with tempfile.TemporaryDirectory(prefix="cxrecon-boundary-") as folder:
        running = start_emulator(Path(folder) / "emulator.sqlite")
        try:
            yield running
        finally:
            running.stop()


def make_project(sandbox: Path) -> tuple[Path, Path]:
    project, outside = sandbox / "project", sandbox / "outside"
    (project / "connectors").mkdir(parents=True)
    (project / "cxrecon.yaml").write_text("project: boundary\n")
    for name in ("alpha", "beta"):
        text = CONNECTOR.format(name=name.title())
        (project / "connectors" / f"{name}.yaml").write_text(text)
    (outside / "home").mkdir(parents=True)
    (outside / "home" / ".bashrc").write_text("export PATH=$HOME/bin:$PATH\n")
    (outside / "home" / "thesis.pdf").write_bytes(b"%PDF years of work")
    (outside / "folder").mkdir()
    (outside / "folder" / "keep.txt").write_text("a user's file\n")
    return project, outside


def entry_of_alpha(project: Path) -> str:
    """Where `validate` puts connectors/alpha.yaml's cache entry (a hash of public inputs:
    an attacker can compute it)."""
    seen: list[str] = []

    class Spy(FileCache):
        def get(self, raw: bytes, display: str, context: LoadContext) -> CheckedFile | None:
            seen.append(self._key(content_hash(raw), display, context))
            return None

    spy = Spy(project / "unused", key=CacheKey(b"k" * 32, Path("k")))
    cwd = Path.cwd()
    os.chdir(project)  # files are named relative to the working directory, as the CLI runs
    try:
        loaded = load_project(project)
        read_desired(loaded.connectors_path, None, project=loaded, cache=spy)
    finally:
        os.chdir(cwd)
    return f"{CACHE}/{min(seen)[:2]}/{min(seen)[2:]}"


def shard_of_alpha(project: Path) -> str:
    return str(Path(entry_of_alpha(project)).parent)


def inside_a_link(project: Path, relative: str) -> bool:
    """Whether a folder on the way to `relative` is a link (planting there would write out
    of the project)."""
    parts = Path(relative).parts
    return any((project.joinpath(*parts[:i])).is_symlink() for i in range(1, len(parts)))


def plant(project: Path, outside: Path, chosen: dict[str, bool]) -> dict[str, str]:
    """The links, as relative path → target; `dangling` ones point at nothing."""
    planted: dict[str, str] = {}
    entry = entry_of_alpha(project)
    special = {"SHARD": str(Path(entry).parent), "ENTRY": entry}
    for number, (site, dangling) in enumerate(sorted(chosen.items())):
        relative = special.get(site, site)
        if inside_a_link(project, relative):
            continue
        path = project / relative
        if dangling:
            target = outside / f"missing-{number}"
        else:
            target = outside / ("folder" if SITES[site] else "home/.bashrc")
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        os.symlink(target, path)
        planted[relative] = os.fspath(target)
    return planted


def snapshot(folder: Path) -> dict[str, object]:
    """Every entry under `folder`, links not followed: a link's target, a file's bytes."""
    found: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            key = path.relative_to(folder).as_posix()
            if path.is_symlink():
                found[key] = ("link", os.readlink(path))
            elif path.is_dir():
                found[key] = "folder"
            else:
                found[key] = path.read_bytes()
    return found


def links_in(project: Path) -> dict[str, str]:
    return {
        key: value[1]
        for key, value in snapshot(project).items()
        if isinstance(value, tuple) and value[0] == "link"
    }


def edit_in_cxone(emulator: RunningEmulator) -> None:
    """A UI edit of every connector, for drift --write-back to adopt."""
    headers = emulator.control.auth_headers()
    listing = httpx.get(emulator.base_url + "/crm/connectors", headers=headers, timeout=10)
    listing.raise_for_status()
    for item in listing.json()["items"]:
        emulator.control.edit(item["id"], {"description": "Edited in CXone"})


def run_everything(emulator: RunningEmulator, project: Path) -> list[tuple[str, Result]]:
    env = {
        "CXONE_BASE_URL": emulator.base_url,
        "CXONE_CLIENT_ID": "demo-client",
        "CXONE_CLIENT_SECRET": "demo-secret",
        "CRM_API_KEY": API_KEY,
        "CXRECON_NO_CACHE": None,
        "CXRECON_PROJECT": None,  # cxrecon.yaml names it (no "not used" warning line)
        "NO_COLOR": "1",
        "GITHUB_STEP_SUMMARY": None,
        "GITHUB_ACTIONS": None,
    }
    runner = CliRunner()
    results = []
    commands = [
        ["validate"],
        ["plan"],
        ["plan", "--emulator"],
        ["apply", "--auto-approve"],
        None,  # CXone is edited here
        ["drift", "--write-back"],
        ["dump", "--out", "dumped", "--force"],
    ]
    cwd = Path.cwd()
    os.chdir(project)
    try:
        for command in commands:
            if command is None:
                edit_in_cxone(emulator)
                continue
            results.append((" ".join(command), runner.invoke(cli, command, env=env)))
    finally:
        os.chdir(cwd)
    return results


@settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    print_blob=False,
)
@given(chosen=links)
def test_no_link_in_a_project_makes_cxrecon_write_outside_it(
    emulator: RunningEmulator, chosen: dict[str, bool]
) -> None:
    emulator.control.reset()
    with tempfile.TemporaryDirectory(prefix="cxrecon-boundary-") as folder:
        project, outside = make_project(Path(folder))
        planted = plant(project, outside, chosen)
        before = snapshot(outside)

        results = run_everything(emulator, project)

        for command, result in results:
            # Refusals are exit 1 with a message; a traceback is an exception here.
            assert result.exception is None or isinstance(result.exception, SystemExit), (
                command,
                result.exception,
                result.output,
            )
            assert API_KEY not in result.output
            if result.exit_code == 1 and command != "validate":  # validate: a findings list
                # A refusal is one line (what, where, what to do); an invalid desired state
                # is one line and its findings, one per line.
                head, *findings = result.stderr.splitlines()
                assert head.startswith("error: "), (command, result.stderr)
                assert all(f.startswith("  ") and "error" in f for f in findings), (
                    command,
                    result.stderr,
                )
        assert snapshot(outside) == before, planted
        after = links_in(project)
        # No new link, and none moved: a planted link may only have been replaced by a file.
        assert set(after.items()) <= set(planted.items()), (planted, after)


def test_the_property_sees_a_write_through_a_link(tmp_path: Path) -> None:
    """The check itself: a file written through a planted link changes the snapshot."""
    project, outside = make_project(tmp_path)
    planted = plant(project, outside, {"dumped/alpha.yaml": False})
    before = snapshot(outside)
    (project / "dumped" / "alpha.yaml").write_text("overwritten")
    assert snapshot(outside) != before
    assert links_in(project) == planted


def test_without_links_every_command_writes_where_the_property_looks(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """The property exercises every write: with no link planted, each command succeeds and
    writes its files (cache entries in the shard a link is planted at, the audit log, the
    emulator's database, the written-back and dumped files)."""
    emulator.control.reset()
    project, _ = make_project(tmp_path)
    shard = shard_of_alpha(project)

    results = run_everything(emulator, project)

    assert [(command, r.exit_code) for command, r in results] == [
        ("validate", 0),
        ("plan", 0),
        ("plan --emulator", 0),
        ("apply --auto-approve", 0),
        ("drift --write-back", 0),
        ("dump --out dumped --force", 0),
    ]
    assert any((project / shard).iterdir())
    assert (project / ".cxrecon" / "audit.jsonl").stat().st_size > 0
    assert (project / ".cxrecon" / "emulator.sqlite").is_file()
    assert "Edited in CXone" in (project / "connectors" / "alpha.yaml").read_text()
    assert "Edited in CXone" in (project / "dumped" / "alpha.yaml").read_text()
    assert not links_in(project)
