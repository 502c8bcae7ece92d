"""`cxrecon reconcile --repo .` in a clone whose `.cxrecon` is a committed link (issue 22, break
5): the controller's audit log and notification memory are never written through it. A cycle
that would write refuses in one line and sends nothing; a dry run keeps no memory there."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.notify.memory import NoticeMemory
from reconciler.testing import RunningEmulator

from .helpers import CANARY, connector_yaml, git, remote_connectors


def dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def linked_clone(tmp_path: Path) -> tuple[Path, Path]:
    """A clone with `.cxrecon` committed as a link to a folder of the user's; notifications
    go to a destination that refuses connections (the memory is kept all the same)."""
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("a user's file\n")
    (repo / "connectors").mkdir(parents=True)
    (repo / "connectors" / "alpha.yaml").write_text(connector_yaml("Alpha"))
    (repo / "cxrecon.yaml").write_text(
        "project: linked\nconnectors: connectors/\nnotifications:\n  - name: chat\n"
        f"    url: json://127.0.0.1:{dead_port()}/hook\n"
        "    events: [drift, applied, controller-not-ready]\n"
    )
    os.symlink(outside, repo / ".cxrecon")
    git(tmp_path, "init", "-q", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "connectors, and .cxrecon as a link")
    return repo, outside


def reconcile(
    repo: Path, emulator: RunningEmulator, *args: str, audit_log: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("STATE_DIRECTORY", "CXRECON_AUDIT_LOG") and not key.startswith("CXONE_")
    }
    env |= {
        "CXONE_BASE_URL": emulator.base_url,
        "CXONE_CLIENT_ID": "demo-client",
        "CXONE_CLIENT_SECRET": "demo-secret",
        "CRM_API_KEY": CANARY,
        "NO_COLOR": "1",
    }
    if audit_log is not None:
        env["CXRECON_AUDIT_LOG"] = audit_log
    command = [sys.executable, "-m", "reconciler", "reconcile", "--repo", "."]
    return subprocess.run(
        [*command, "--once", "--no-pull", "--listen", "off", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def files_in(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")}


@pytest.mark.parametrize("audit_log", [None, ".cxrecon/audit.jsonl"], ids=["default", "given"])
def test_a_cycle_refuses_an_audit_log_behind_a_linked_cxrecon_and_sends_nothing(
    tmp_path: Path, emulator: RunningEmulator, audit_log: str | None
) -> None:
    repo, outside = linked_clone(tmp_path)
    before = files_in(outside)

    done = reconcile(repo, emulator, audit_log=audit_log)

    assert done.returncode == 1, done.stderr
    assert files_in(outside) == before  # no audit log, no notification memory out there
    assert remote_connectors(emulator) == {}  # no intent recorded, so no write sent
    refusal = [line for line in done.stderr.splitlines() if re.search(r"cycle 1 .*failed", line)]
    assert len(refusal) == 1, done.stderr
    assert ".cxrecon is a symbolic link" in refusal[0]
    assert "remove it (git rm)" in refusal[0]
    assert "Traceback" not in done.stderr
    assert CANARY not in done.stdout + done.stderr


def test_a_dry_run_keeps_no_notification_memory_behind_a_linked_cxrecon(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    repo, outside = linked_clone(tmp_path)
    before = files_in(outside)

    done = reconcile(repo, emulator, "--dry-run")

    assert done.returncode == 2, done.stderr  # planned, nothing written
    assert files_in(outside) == before
    assert "cannot keep what was notified" in done.stderr
    assert ".cxrecon is a symbolic link" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_notification_memory_is_never_written_or_read_through_a_link(tmp_path: Path) -> None:
    root, outside = tmp_path / "here", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "notified.json").write_text('{"version": 1, "notReady": true, "told": {}}\n')
    os.symlink(outside, root / ".cxrecon")

    memory = NoticeMemory(root / ".cxrecon" / "notified.json", root=root)
    memory.save()

    assert not memory.not_ready  # what lies behind the link was not read
    assert [p.name for p in outside.iterdir()] == ["notified.json"]
    assert (outside / "notified.json").read_text().startswith('{"version": 1, "notReady": true')
