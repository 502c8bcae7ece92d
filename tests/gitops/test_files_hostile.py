"""`drift --write-back` and `dump` in a repository that is hostile input: links planted at the
temporary names they used to write (`.NAME.PID.tmp`) or at a file's own name never make them
write outside the project, and no connector file becomes a link; a linked connector file or
--out folder is refused; a file-size limit is one line, every file or none written."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.testing import RunningEmulator

from .helpers import Run, cli_env

SUPPORT = Path("connectors") / "support-desk.yaml"
REPO_ROOT = Path(__file__).parents[2]


@pytest.fixture
def dotfile(tmp_path: Path) -> Path:
    """A user's file out of the project, the target of the planted links."""
    path = tmp_path / "home" / ".bashrc"
    path.parent.mkdir()
    path.write_text("export PATH=$HOME/bin:$PATH\n")
    return path


def edited_in_cxrone(emulator: RunningEmulator, applied: dict[str, str]) -> None:
    emulator.control.edit(applied["Support-Desk"], {"description": "Edited in CXone"})


def test_links_at_write_backs_temporary_names_are_never_written_through(
    applied: dict[str, str], run: Run, emulator: RunningEmulator, project: Path, dotfile: Path
) -> None:
    edited_in_cxrone(emulator, applied)
    before = dotfile.read_bytes()
    # The names the old code wrote (its process is this one: CliRunner runs in-process).
    planted = [project / SUPPORT.parent / f".{SUPPORT.name}.{os.getpid()}.tmp"]
    for path in planted:
        os.symlink(dotfile, path)

    result = run("drift", "--write-back")

    assert result.exit_code == 0, result.output
    assert dotfile.read_bytes() == before
    assert not (project / SUPPORT).is_symlink()
    assert "description: Edited in CXone" in (project / SUPPORT).read_text()
    assert all(p.is_symlink() for p in planted)  # left alone, never followed
    leftovers = [p.name for p in (project / "connectors").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == [p.name for p in planted]


def test_a_linked_connector_file_is_left_for_a_hand_edit(
    applied: dict[str, str], run: Run, emulator: RunningEmulator, project: Path
) -> None:
    edited_in_cxrone(emulator, applied)
    # A link inside the project (the loader reads it): write-back must not replace it.
    real = project / "shared" / "support-desk.yaml"
    real.parent.mkdir()
    (project / SUPPORT).rename(real)
    os.symlink(Path("..") / "shared" / "support-desk.yaml", project / SUPPORT)
    before = real.read_bytes()

    result = run("drift", "--write-back")

    assert result.exit_code == 2, result.output
    assert "is a symbolic link (or behind one); write-back edits only regular files" in (
        result.stdout
    )
    assert (project / SUPPORT).is_symlink()
    assert real.read_bytes() == before


def _limited(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def _cxrecon(
    emulator: RunningEmulator, cwd: Path, limit: int, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        preexec_fn=lambda: _limited(limit),  # only sets a limit in the child
        env={
            **os.environ,
            **cli_env(emulator),
            "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO_ROOT)),
        },
        timeout=120,
        check=False,
    )


def test_write_back_under_a_file_size_limit_is_one_line_and_changes_nothing(
    applied: dict[str, str], emulator: RunningEmulator, project: Path
) -> None:
    edited_in_cxrone(emulator, applied)
    files = {p: p.read_bytes() for p in (project / "connectors").iterdir()}
    limit = min(len(b) for b in files.values()) // 2

    result = _cxrecon(emulator, project, limit, "drift", "--write-back", "--no-cache")

    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"error: cannot write connector file {SUPPORT}: the file is over its size limit; "
        "free space (or raise the limit) and run again"
    ]
    assert {p: p.read_bytes() for p in (project / "connectors").iterdir()} == files


def test_links_planted_in_a_dump_folder_are_replaced_never_followed(
    emulator: RunningEmulator, run: Run, project: Path, dotfile: Path
) -> None:
    applied = run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    out = project / "dumped"
    out.mkdir()
    before = dotfile.read_bytes()
    os.symlink(dotfile, out / "support-desk.yaml")
    os.symlink(dotfile, out / f".support-desk.yaml.{os.getpid()}.tmp")
    os.symlink(dotfile, out / ".env.example")

    refused = run("dump", "--out", "dumped")
    assert refused.exit_code == 1
    assert "already exist" in refused.output

    result = run("dump", "--out", "dumped", "--force")

    assert result.exit_code == 0, result.output
    assert dotfile.read_bytes() == before
    assert not (out / "support-desk.yaml").is_symlink()
    assert not (out / ".env.example").is_symlink()
    assert "name: Support-Desk" in (out / "support-desk.yaml").read_text()


def test_a_dump_folder_linked_out_of_the_project_is_refused(
    emulator: RunningEmulator, run: Run, project: Path, dotfile: Path
) -> None:
    os.symlink(dotfile.parent, project / "dumped")
    listing = sorted(p.name for p in dotfile.parent.iterdir())

    result = run("dump", "--out", "dumped/connectors")

    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "dumped is a symbolic link" in result.stderr
    assert sorted(p.name for p in dotfile.parent.iterdir()) == listing


def test_a_dump_under_a_file_size_limit_writes_no_file(
    emulator: RunningEmulator, run: Run, project: Path
) -> None:
    applied = run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output

    result = _cxrecon(emulator, project, 300, "dump", "--out", "dumped")

    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: cannot write dump file dumped/")
    assert "the file is over its size limit" in lines[0]
    assert list((project / "dumped").iterdir()) == []  # every file or none
