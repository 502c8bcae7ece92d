"""A full filesystem (ENOSPC on a tiny tmpfs, in a mount namespace of its own) is one line for
every file cxrecon writes in a project: the cache (a warning; validate still succeeds),
drift --write-back and dump (an error, exit 1), with every file as it was and no partial or
temporary file left. Needs `unshare -m` and a tmpfs mount (root on Linux); skipped where
the machine does not allow them (the file-size-limit tests cover the same paths)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from reconciler.cli.main import cli
from reconciler.testing import RunningEmulator

REPO = Path(__file__).parents[2]
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


def _small_disks_work() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
        timeout=20,
        check=False,
    )
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    not _small_disks_work(), reason="no mount namespace with a tmpfs here"
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    (root / "connectors").mkdir(parents=True)
    (root / "cxrecon.yaml").write_text("project: full-disk\n")
    for name in ("alpha", "beta"):
        (root / "connectors" / f"{name}.yaml").write_text(CONNECTOR.format(name=name.title()))
    monkeypatch.chdir(root)
    return root


def environment(emulator: RunningEmulator | None) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO)),
        "CRM_API_KEY": "CANARY-full-disk-key",
        "NO_COLOR": "1",
    }
    if emulator is not None:
        env.update(
            CXONE_BASE_URL=emulator.base_url,
            CXONE_CLIENT_ID="demo-client",
            CXONE_CLIENT_SECRET="demo-secret",
        )
    return env


def on_a_full_disk(
    project: Path, result: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """`cxrecon ARGS` in a copy of `project` on a tmpfs filled to the last byte; the copy is
    brought back to `result` afterwards (the mount ends with its namespace)."""
    mount = project.parent / "small-disk"
    mount.mkdir()
    command = " ".join(shlex.quote(a) for a in (sys.executable, "-m", "reconciler", *args))
    script = (
        f"mount -t tmpfs -o size=1m tmpfs {mount} && cp -a {project}/. {mount}/ && "
        f"(dd if=/dev/zero of={mount}/.filler bs=4k 2>/dev/null; true) && cd {mount} && "
        f"{{ {command}; status=$?; }}; rm -f {mount}/.filler; cp -a {mount}/. {result}/; "
        "exit $status"
    )
    result.mkdir()
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_the_cache_on_a_full_disk_is_one_warning_and_validate_succeeds(
    project: Path, tmp_path: Path
) -> None:
    result = on_a_full_disk(project, tmp_path / "after", environment(None), "validate")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "2 connectors in 2 files: valid\n"
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("warning: cache not written: ")
    assert "no space left on the device" in lines[0]
    written = files(tmp_path / "after")
    assert sorted(written) == ["connectors/alpha.yaml", "connectors/beta.yaml", "cxrecon.yaml"]


def applied_and_edited(emulator: RunningEmulator) -> None:
    env = {k: v for k, v in environment(emulator).items() if k != "PYTHONPATH"}
    applied = CliRunner().invoke(cli, ["apply", "--auto-approve"], env=env)
    assert applied.exit_code == 0, applied.output
    headers = emulator.control.auth_headers()
    listing = httpx.get(emulator.base_url + "/crm/connectors", headers=headers, timeout=10)
    for item in listing.json()["items"]:
        emulator.control.edit(item["id"], {"description": "Edited in CXone"})


def test_write_back_on_a_full_disk_is_one_line_and_changes_nothing(
    emulator: RunningEmulator, project: Path, tmp_path: Path
) -> None:
    applied_and_edited(emulator)
    before = files(project)
    after = tmp_path / "after"

    result = on_a_full_disk(
        project, after, environment(emulator), "drift", "--write-back", "--no-cache"
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "error: cannot write connector file connectors/alpha.yaml: no space left on the "
        "device; free space (or raise the limit) and run again"
    ]
    assert files(after) == before


def test_a_dump_on_a_full_disk_is_one_line_and_writes_no_file(
    emulator: RunningEmulator, project: Path, tmp_path: Path
) -> None:
    applied_and_edited(emulator)
    after = tmp_path / "after"

    result = on_a_full_disk(project, after, environment(emulator), "dump", "--out", "dumped")

    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: cannot write dump file dumped/")
    assert "no space left on the device" in lines[0]
    assert not [p for p in (after / "dumped").iterdir()]
