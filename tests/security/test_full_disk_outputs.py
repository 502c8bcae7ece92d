"""A full disk (here: the process's file-size limit, EFBIG) is one line, exit 1, and no half
written file for the files cxrecon writes outside the connectors folder too: the GitHub job
summary and step outputs `plan` and the `cxrecon github` helpers append to, `--metrics-file`,
and the files `cxrecon init` writes. tests/security/test_full_disk.py fills a real disk."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from reconciler.testing import RunningEmulator

#: What a file "near its limit" already holds: every append of a summary passes the limit.
LIMIT: Final = 4096
NEARLY_FULL: Final = b"# earlier steps\n" + b"x" * (LIMIT - 20) + b"\n"
CONNECTOR: Final = """\
name: Alpha
description: Contacts of Alpha
lifecycleStatus: ACTIVE
connectorType: CUSTOM
endpointUrl: https://crm.acme.example/alpha
authentication:
  type: API_KEY
  credentials:
    apiKey: ${env:CRM_API_KEY}
mappings:
  - cxoneField: contact.external_id
    crmField: id
    direction: INBOUND
"""


def _limited(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def cxrecon(
    cwd: Path, env: dict[str, str], *args: str, limit: int = LIMIT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=lambda: _limited(limit),
    )


def one_error_line(result: subprocess.CompletedProcess[str], *names: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    # apply's API-call table goes to stderr too; the failure is one line of its own.
    lines = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1, result.stderr
    assert "the file is over its size limit" in lines[0]
    for name in names:
        assert name in lines[0]
    return lines[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "connectors").mkdir(parents=True)
    (root / "cxrecon.yaml").write_text("project: full-outputs\n")
    (root / "connectors" / "alpha.yaml").write_text(CONNECTOR)
    return root


@pytest.fixture
def github(tmp_path: Path) -> dict[str, Path]:
    files = {"GITHUB_STEP_SUMMARY": tmp_path / "summary.md", "GITHUB_OUTPUT": tmp_path / "out"}
    for path in files.values():
        path.write_bytes(b"")
    return files


def connection(emulator: RunningEmulator) -> dict[str, str]:
    return {
        "CXONE_BASE_URL": emulator.base_url,
        "CXONE_CLIENT_ID": "demo-client",
        "CXONE_CLIENT_SECRET": "demo-secret",
        "CRM_API_KEY": "CANARY-outputs-key",
    }


def test_the_plan_job_summary_near_its_limit_is_one_line_and_left_as_it_was(
    emulator: RunningEmulator, project: Path, github: dict[str, Path]
) -> None:
    summary = github["GITHUB_STEP_SUMMARY"]
    summary.write_bytes(NEARLY_FULL)
    env = {**connection(emulator), "GITHUB_STEP_SUMMARY": str(summary)}

    result = cxrecon(project, env, "plan")

    one_error_line(result, "job summary", str(summary))
    assert summary.read_bytes() == NEARLY_FULL  # no half summary appended


@pytest.mark.parametrize("full", ["GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT"])
def test_the_github_helpers_near_a_file_limit_are_one_line_and_append_nothing(
    project: Path, github: dict[str, Path], full: str
) -> None:
    github[full].write_bytes(NEARLY_FULL)
    env = {name: str(path) for name, path in github.items()}
    env.update(GITHUB_REPOSITORY="acme/connectors", GITHUB_RUN_ID="7")
    env["GITHUB_SERVER_URL"] = "https://github.com"

    result = cxrecon(project, env, "github", "apply-summary", "-e", "prod", "--exit-code", "0")

    one_error_line(result, str(github[full]))
    assert github[full].read_bytes() == NEARLY_FULL


def test_a_metrics_file_over_the_limit_is_one_line_and_not_written(
    emulator: RunningEmulator, project: Path, tmp_path: Path
) -> None:
    metrics = tmp_path / "metrics.prom"
    env = connection(emulator)
    # Nothing to apply the second time: only the metrics file is written.
    first = cxrecon(project, env, "apply", "--auto-approve", limit=1 << 30)
    assert first.returncode == 0, first.stderr

    result = cxrecon(
        project, env, "apply", "--auto-approve", "--metrics-file", str(metrics), limit=512
    )

    one_error_line(result, "metrics file", str(metrics))
    assert not metrics.exists()
    assert not list(tmp_path.glob(".metrics.prom*"))  # no temporary file left


def test_init_over_the_limit_is_one_line_and_writes_no_file(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    env = {"CXONE_BASE_URL": emulator.base_url, "CXONE_CLIENT_ID": "demo-client"}
    target = tmp_path / "new-repo"
    (target / "connectors").mkdir(parents=True)
    (target / "connectors" / "big.yaml").write_text(CONNECTOR + "# " + "x" * LIMIT + "\n")

    result = cxrecon(tmp_path, env, "init", "--project", "acme", "-e", "prod", str(target))

    one_error_line(result, "new-repo")
    assert [p.name for p in target.rglob("*") if p.is_file()] == ["big.yaml"]
