"""reconciler.safefs, the one way cxrecon writes inside a project: links at a target or on the
way are never followed, temporary files are never left behind, several files are written
every one or none, and a full disk (here: a file-size limit) is one typed error."""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.safefs import (
    FileWriteError,
    UnsafePathError,
    ensure_dir,
    open_append,
    read_bytes,
    refuse_links,
    remove_regular,
    write_all_atomic,
    write_atomic,
)

REPO = Path(__file__).parents[2]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / ".bashrc"
    path.parent.mkdir()
    path.write_bytes(b"export PATH=$HOME/bin:$PATH\n")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    return root


def test_a_link_at_the_target_is_replaced_never_followed(project: Path, outside: Path) -> None:
    target = project / "alpha.yaml"
    os.symlink(outside, target)
    write_atomic(target, b"name: Alpha\n")
    assert not target.is_symlink()
    assert target.read_bytes() == b"name: Alpha\n"
    assert outside.read_bytes() == b"export PATH=$HOME/bin:$PATH\n"
    assert sorted(p.name for p in project.iterdir()) == ["alpha.yaml"]


def test_the_mode_is_the_one_asked_for(project: Path) -> None:
    write_all_atomic(
        [(project / "a", b"a"), (project / "b", b"b")], mode=[0o600, 0o640], what="file"
    )
    assert stat.S_IMODE((project / "a").stat().st_mode) == 0o600
    assert stat.S_IMODE((project / "b").stat().st_mode) == 0o640


def test_several_files_are_written_every_one_or_none(project: Path) -> None:
    (project / "a.yaml").write_bytes(b"old a")
    files = [
        (project / "a.yaml", b"new a"),
        (project / "missing-folder" / "b.yaml", b"new b"),  # cannot be created
    ]
    with pytest.raises(FileWriteError, match=r"cannot write dump file .*b\.yaml"):
        write_all_atomic(files, what="dump file")
    assert (project / "a.yaml").read_bytes() == b"old a"
    assert sorted(p.name for p in project.iterdir()) == ["a.yaml"]  # no temporary left


def test_links_on_the_way_are_refused_below_the_root_only(
    tmp_path: Path, project: Path, outside: Path
) -> None:
    os.symlink(outside.parent, project / ".cxrecon")
    with pytest.raises(UnsafePathError, match=r"\.cxrecon is a symbolic link"):
        refuse_links(project, project / ".cxrecon" / "cache" / "v4")
    with pytest.raises(UnsafePathError):
        ensure_dir(project, project / ".cxrecon" / "cache")
    assert sorted(p.name for p in outside.parent.iterdir()) == [".bashrc"]
    # The project itself may live behind a link (a home folder on another disk).
    os.symlink(project, tmp_path / "linked-project")
    linked = tmp_path / "linked-project"
    ensure_dir(linked, linked / "real" / "folder")
    assert (project / "real" / "folder").is_dir()


def test_appending_and_reading_never_go_through_a_link(project: Path, outside: Path) -> None:
    os.symlink(outside, project / "audit.jsonl")
    with pytest.raises(UnsafePathError):
        open_append(project / "audit.jsonl")
    with pytest.raises(OSError):  # noqa: PT011 - ELOOP, whatever its message
        read_bytes(project / "audit.jsonl")
    assert not remove_regular(project / "audit.jsonl")
    assert outside.exists()


def test_a_file_size_limit_is_one_typed_error_and_leaves_nothing(project: Path) -> None:
    target = project / "plan.json"
    target.write_bytes(b"{}")
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from reconciler.safefs import FileWriteError, write_atomic\n"
        "try:\n"
        f"    write_atomic(Path({str(target)!r}), b'x' * 100_000, what='saved plan')\n"
        "except FileWriteError as exc:\n"
        "    print(exc)\n"
    )

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        preexec_fn=limited,  # only sets a limit in the child
        env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO))},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"cannot write saved plan {target}: the file is over its size limit; free space (or "
        "raise the limit) and run again\n"
    )
    assert target.read_bytes() == b"{}"
    assert sorted(p.name for p in project.iterdir()) == ["plan.json"]


def test_the_metrics_file_replaces_a_link_at_its_name(project: Path, outside: Path) -> None:
    """`apply --metrics-file metrics-ENV.prom` writes in the checkout (apply-environment.yml):
    a committed link there is replaced, never written through."""
    from reconciler.cxone.stats import ApiStats
    from reconciler.telemetry.summary import summarize, write_prometheus

    summary = summarize(
        ApiStats().snapshot(),
        command="apply",
        run_id="r1",
        environment="prod",
        duration_seconds=1.0,
        outcomes={"applied": 1},
    )
    target = project / "metrics-prod.prom"
    os.symlink(outside, target)
    write_prometheus(summary, target)
    assert not target.is_symlink()
    assert "cxrecon_run_success" in target.read_text()
    assert outside.read_bytes() == b"export PATH=$HOME/bin:$PATH\n"
    assert sorted(p.name for p in project.iterdir()) == ["metrics-prod.prom"]
