"""The cache treats the repository as hostile: an entry not signed with this user's key (one
forged with another file's content hash, one copied from another user) is a miss; links in
`.cxrecon/cache` are refused in one line and nothing is written or deleted through them;
eviction deletes only entries it can prove it wrote; the key is private and made once; a
key that cannot be made, or a full disk, only turns the cache off, with one warning line."""

from __future__ import annotations

import dataclasses
import os
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli.main import cli
from reconciler.load import cache_entries
from reconciler.load.cache import FileCache
from reconciler.load.cache_entries import FORMAT
from reconciler.load.cache_key import KEY_FILE_VARIABLE, CacheKey, key_file, load_key
from reconciler.load.checked import CheckedFile, LoadContext, check_file, content_hash
from reconciler.load.desired import read_desired
from reconciler.safefs import UnsafePathError

from .inputs import ENVIRONMENT, REPO, connector_yaml

ATTACKER = "https://attacker.example/steal"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    (root / "connectors").mkdir(parents=True)
    (root / "cxrecon.yaml").write_text("project: demo\n")
    for name in ("alpha", "beta", "gamma"):
        (root / "connectors" / f"{name}.yaml").write_text(connector_yaml(name.title()))
    monkeypatch.chdir(root)
    monkeypatch.setenv(KEY_FILE_VARIABLE, str(tmp_path / "state" / "cache.key"))
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder out of the project holding a user's file."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "thesis.pdf").write_bytes(b"%PDF years of work")
    return folder


def load(root: Path, **kwargs: object) -> tuple[list[str | None], FileCache]:
    files = FileCache.for_project(root, **kwargs)  # type: ignore[arg-type]
    result = read_desired(Path("connectors"), ENVIRONMENT, cache=files)
    files.close()
    return [c.spec.endpoint_url for c in result.connectors], files


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")}


def entry_for(raw: bytes, display: str) -> tuple[str, LoadContext]:
    """The cache key of `raw` and its context, as the load computes them (an attacker can:
    the key is a hash of public inputs)."""
    seen: list[tuple[str, LoadContext]] = []

    class Spy(FileCache):
        def get(self, raw: bytes, display: str, context: LoadContext) -> CheckedFile | None:
            seen.append((self._key(content_hash(raw), display, context), context))
            return None

    spy = Spy(Path("unused-cache"), key=CacheKey(b"k" * 32, Path("k")))
    read_desired(Path("connectors") / Path(display).name, ENVIRONMENT, cache=spy)
    assert len(seen) == 1
    return seen[0]


def test_an_entry_forged_with_another_files_content_hash_does_not_hide_a_change(
    project: Path,
) -> None:
    benign = (project / "connectors" / "alpha.yaml").read_bytes()
    load(project)
    evil = benign.replace(b"https://crm.acme.example/api", ATTACKER.encode())
    (project / "connectors" / "alpha.yaml").write_bytes(evil)
    key, context = entry_for(evil, "connectors/alpha.yaml")
    # The entry the attacker commits: the benign file's result, under the evil file's hash,
    # signed with a key of their own (they cannot know the user's).
    checked = dataclasses.replace(
        check_file(benign, "connectors/alpha.yaml", context), content=content_hash(evil)
    )
    forged = cache_entries.entry_bytes(
        key, checked, "connectors/alpha.yaml", CacheKey(b"a" * 32, Path("a"))
    )
    entry = project / ".cxrecon" / "cache" / f"v{FORMAT}" / key[:2] / key[2:]
    entry.parent.mkdir(exist_ok=True)
    entry.write_bytes(forged)

    endpoints, files = load(project)

    assert ATTACKER in endpoints
    assert (files.hits, files.misses, files.ignored) == (2, 1, 1)
    assert entry.read_bytes() != forged  # rewritten, signed with the user's key
    assert load(project)[1].hits == 3


def test_an_entry_copied_from_another_users_cache_is_a_miss(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_FILE_VARIABLE, str(tmp_path / "someone-else.key"))
    load(project)  # the cache as another user (another key) left it, committed
    monkeypatch.setenv(KEY_FILE_VARIABLE, str(tmp_path / "state" / "cache.key"))
    _, files = load(project)
    assert (files.hits, files.misses, files.ignored) == (0, 3, 3)
    assert load(project)[1].hits == 3


LINKS = [".cxrecon", ".cxrecon/cache", f".cxrecon/cache/v{FORMAT}"]


@pytest.mark.parametrize("link", LINKS)
def test_a_cache_folder_linked_out_of_the_project_is_refused_in_one_line(
    project: Path, outside: Path, link: str
) -> None:
    (project / link).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, project / link)
    before = snapshot(outside)

    with pytest.raises(UnsafePathError) as refused:
        FileCache.for_project(project)
    result = CliRunner().invoke(cli, ["validate"])

    assert f"{link} is a symbolic link" in str(refused.value)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "--no-cache" in result.stderr
    assert snapshot(outside) == before
    assert CliRunner().invoke(cli, ["validate", "--no-cache"]).exit_code == 0
    assert snapshot(outside) == before


def test_a_shard_linked_out_of_the_project_is_refused(project: Path, outside: Path) -> None:
    load(project)
    shard = next((project / ".cxrecon" / "cache" / f"v{FORMAT}").iterdir())
    for entry in shard.iterdir():
        entry.unlink()
    shard.rmdir()
    os.symlink(outside, shard)
    before = snapshot(outside)
    with pytest.raises(UnsafePathError, match=r"is a symbolic link.*--no-cache"):
        load(project)
    assert snapshot(outside) == before


def test_a_dangling_gitignore_link_is_refused_and_its_target_never_made(
    project: Path, tmp_path: Path
) -> None:
    (project / ".cxrecon" / "cache").mkdir(parents=True)
    target = tmp_path / "made-by-cxrecon"
    os.symlink(target, project / ".cxrecon" / "cache" / ".gitignore")
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 1
    assert ".cxrecon/cache/.gitignore is a symbolic link" in result.stderr
    assert not target.exists()


def test_eviction_deletes_only_entries_it_can_prove_it_wrote(project: Path, outside: Path) -> None:
    load(project)
    folder = project / ".cxrecon" / "cache" / f"v{FORMAT}"
    ours = sorted(p for p in folder.rglob("*") if p.is_file())
    size = max(p.stat().st_size for p in ours)
    shard = ours[0].parent
    # What a repository may hold in the cache: a file named like an entry (not signed with
    # the user's key), links named like entries to the user's files, any other file.
    planted = {
        shard / ("f" * 62): b"x" * (size * 4),
        shard / "notes.txt": b"mine",
    }
    for path, data in planted.items():
        path.write_bytes(data)
    os.symlink(outside / "thesis.pdf", shard / ("e" * 62))
    os.symlink(outside / "missing", shard / ("d" * 62))
    for path in folder.rglob("*"):
        os.utime(path, (1_000_000, 1_000_000), follow_symlinks=False)  # the oldest
    before = snapshot(outside)

    removed = FileCache.for_project(project, max_bytes=size * 2).evict()

    assert removed == 3  # ours, and nothing else, however old and large
    assert not any(p.exists() for p in ours)
    assert all(path.read_bytes() == data for path, data in planted.items())
    assert (shard / ("e" * 62)).is_symlink()
    assert (shard / ("d" * 62)).is_symlink()
    assert snapshot(outside) == before
    assert not (outside / "missing").exists()


def test_a_large_planted_file_does_not_make_eviction_delete_entries_within_the_bound(
    project: Path,
) -> None:
    load(project)
    folder = project / ".cxrecon" / "cache" / f"v{FORMAT}"
    ours = sorted(p for p in folder.rglob("*") if p.is_file())
    size = sum(p.stat().st_size for p in ours)
    planted = ours[0].parent / ("f" * 62)
    planted.write_bytes(b"x" * size * 10)
    os.utime(planted, (1_000_000, 1_000_000))  # older than every entry: looked at first

    removed = FileCache.for_project(project, max_bytes=int(size * 1.4)).evict()

    assert removed == 0
    assert all(p.exists() for p in ours)
    assert planted.stat().st_size == size * 10


def test_the_key_is_made_once_private_and_outside_the_project(
    project: Path, tmp_path: Path
) -> None:
    path = tmp_path / "state" / "cache.key"
    load(project)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    first = path.read_bytes()
    assert load(project)[1].hits == 3
    assert path.read_bytes() == first
    assert first not in b"".join(
        p.read_bytes() for p in (project / ".cxrecon").rglob("*") if p.is_file()
    )


def test_the_key_lives_in_the_users_state_folder_by_default(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert key_file({"HOME": str(home)}) == home / ".local/state/cxrecon/cache.key"
    assert key_file({"XDG_STATE_HOME": "/srv/state"}) == Path("/srv/state/cxrecon/cache.key")
    relative = key_file({"XDG_STATE_HOME": "relative", "HOME": str(home)})  # ignored (XDG)
    assert relative == home / ".local/state/cxrecon/cache.key"
    assert key_file({KEY_FILE_VARIABLE: "/k/key", "XDG_STATE_HOME": "/x"}) == Path("/k/key")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through any permission")
def test_an_unwritable_home_turns_the_cache_off_with_one_note(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    monkeypatch.setenv(KEY_FILE_VARIABLE, str(locked / "state" / "cache.key"))
    endpoints, files = load(project)
    assert len(endpoints) == 3
    assert files.note is not None
    assert "cannot create the cache key" in files.note
    assert not (project / ".cxrecon").exists()


@pytest.mark.parametrize("problem", ["shared", "not-a-key", "unwritable"])
def test_a_key_that_cannot_be_trusted_turns_the_cache_off(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, problem: str
) -> None:
    key = tmp_path / "state" / "cache.key"
    key.parent.mkdir()
    if problem == "shared":
        key.write_text("ab" * 32 + "\n")
        key.chmod(0o644)
        expected = "can be read by others"
    elif problem == "not-a-key":
        key.write_text("hello\n")
        key.chmod(0o600)
        expected = "is not a cxrecon cache key"
    else:
        # A file where the key's folder should be: nothing can be created under it.
        monkeypatch.setenv(KEY_FILE_VARIABLE, str(tmp_path / "state" / "cache.key" / "x"))
        key.write_text("x")
        expected = "cannot create the cache key"
    endpoints, files = load(project)
    assert len(endpoints) == 3
    assert (files.hits, files.written) == (0, 0)
    assert files.note is not None
    assert expected in files.note
    assert "\n" not in files.note


def test_load_key_gives_the_same_key_to_every_run(tmp_path: Path) -> None:
    environ = {KEY_FILE_VARIABLE: str(tmp_path / "k" / "cache.key")}
    first, second = load_key(environ), load_key(environ)
    assert first.secret == second.secret
    assert len(first.secret) == 32
    assert first.secret.hex() not in repr(first)


def _validate_under_file_size_limit(root: Path, limit: int) -> subprocess.CompletedProcess[str]:
    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "reconciler", "validate"],
        cwd=root,
        capture_output=True,
        text=True,
        preexec_fn=limited,  # only sets a limit in the child
        env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO))},
        timeout=60,
        check=False,
    )


def test_a_full_disk_leaves_the_cache_in_one_warning_line(project: Path) -> None:
    result = _validate_under_file_size_limit(project, 600)  # the key fits, no entry does
    assert result.returncode == 0, result.stderr
    assert result.stdout == "3 connectors in 3 files: valid\n"
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("warning: cache not written: cannot write cache")
    assert "the file is over its size limit" in lines[0]
    left = [p for p in (project / ".cxrecon").rglob("*") if p.is_file()]
    assert [p.name for p in left] == [".gitignore"]  # no partial entry, no temporary file


def test_a_key_that_cannot_be_made_is_one_warning_line_from_the_command(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "not-a-folder").write_text("a file where the key's folder should be")
    monkeypatch.setenv(KEY_FILE_VARIABLE, str(tmp_path / "not-a-folder" / "cache.key"))
    result = _validate_under_file_size_limit(project, resource.RLIM_INFINITY)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "3 connectors in 3 files: valid\n"
    assert result.stderr.startswith("warning: cache off: cannot create the cache key ")
    assert result.stderr.count("\n") == 1
    assert "CXRECON_CACHE_KEY_FILE" in result.stderr
    assert not (project / ".cxrecon").exists()


def test_a_fifo_at_an_entrys_name_is_a_miss_never_a_hang(project: Path) -> None:
    """A named pipe where an entry belongs (an archive of a project can carry one): opening
    it to read must not wait for a writer that never comes (a pre-commit hook would hang)."""

    def validate() -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "reconciler", "validate"]
        return subprocess.run(
            command, cwd=project, capture_output=True, text=True, timeout=20, check=False
        )

    assert validate().returncode == 0
    entries = sorted(p for p in (project / ".cxrecon" / "cache").rglob("*") if p.is_file())
    entry = next(p for p in entries if p.name != ".gitignore")
    entry.unlink()
    os.mkfifo(entry)

    done = validate()

    assert done.returncode == 0, done.stderr
    assert "3 connectors in 3 files: valid" in done.stdout, done.stdout
