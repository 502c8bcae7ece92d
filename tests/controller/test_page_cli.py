"""`cxrecon status`: the overview in a terminal, from a running controller's /status or, when
none answers, from a one-shot plan; exit 0 in sync, 2 something to look at, 1 an error."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import status as status_cli
from reconciler.cli.main import cli
from reconciler.controller.status_client import NoController
from reconciler.testing import RunningEmulator

from .helpers import CANARY, ConnectorsRepo, ControllerFactory, connector_yaml, remote_connectors
from .page_support import HOSTILE_NAME, ControllerThread, seed_orphan


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_status_from_a_running_controller(
    make_controller: ControllerFactory, repo: ConnectorsRepo, emulator: RunningEmulator
) -> None:
    controller = make_controller(interval=3600)
    runner = CliRunner()
    with ControllerThread(controller) as running:
        running.wait_for_cycle(1)
        applied = runner.invoke(cli, ["status", "--url", running.url])
        running.next_cycle()
        in_sync = runner.invoke(cli, ["status", "--url", running.url + "/"])
        seed_orphan(emulator, repo.checkout)
        emulator.control.edit(remote_connectors(emulator)["Alpha"]["id"], {"description": "ui"})
        running.next_cycle()
        drift = runner.invoke(cli, ["status", "--url", running.url])

    assert applied.exit_code == 0, applied.output
    assert "Updated" in applied.output
    assert in_sync.exit_code == 0, in_sync.output
    assert f"Controller at {running.url}: ready: cycle 2 success" in in_sync.output
    assert "Last cycle #2: success" in in_sync.output
    assert "In sync  Alpha" in in_sync.output
    assert "1 connector: 1 in sync, 0 to look at, 0 waiting." in in_sync.output
    assert drift.exit_code == 2, drift.output
    lines = drift.output.splitlines()
    alpha = next(line for line in lines if " Alpha " in line)
    assert alpha.startswith("Changed in CXone")
    assert "description — changed in CXone since the last apply (drift)" in alpha
    orphan = next(line for line in lines if HOSTILE_NAME in line)
    assert orphan.startswith("Removed from git")
    assert lines.index(orphan) < lines.index(alpha)  # most urgent first, then by name
    assert CANARY not in drift.output


def test_status_plans_once_when_no_controller_answers(
    emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "alpha.yaml").write_text(connector_yaml("Alpha"))
    monkeypatch.chdir(tmp_path)
    env = {
        "CXONE_BASE_URL": emulator.base_url,
        "CXONE_CLIENT_ID": "demo-client",
        "CXONE_CLIENT_SECRET": "demo-secret",
    }
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(cli, ["status", "--url", url, "--timeout", "2"], env=env)
    assert result.exit_code == 2, result.output
    assert f"no controller answers at {url} (connection refused)" in result.stderr
    assert "planning once against the tenant instead" in result.stderr
    assert "Planned once against environment default (no controller):" in result.stdout
    assert "New    Alpha" in result.stdout

    planned = CliRunner().invoke(cli, ["status", "--plan"], env=env)
    assert planned.exit_code == 2
    assert planned.stderr == ""  # no controller was asked
    assert "New    Alpha" in planned.stdout


def test_a_bad_url_is_an_error() -> None:
    result = CliRunner().invoke(cli, ["status", "--url", "ftp://x"])
    assert result.exit_code == 1
    assert "--url must be http://HOST:PORT" in result.output


def controller_body(**cycle: Any) -> dict[str, Any]:
    return {
        "ready": True,
        "readiness": "ready: cycle 3 success",
        "lastCycle": {
            "number": 3,
            "started": "2025-06-02T12:00:00.000+00:00",
            "durationSeconds": 1.25,
            "result": "success",
            "commit": "0123456789abcdef",
            "connectors": [],
            **cycle,
        },
        "backoff": [],
    }


@pytest.mark.parametrize(
    ("body", "code", "text"),
    [
        ({"ready": False, "readiness": "not ready", "lastCycle": None}, 2, "has not finished"),
        (controller_body(result="failed", error="API unreachable"), 1, "error: API unreachable"),
        (controller_body(), 0, "No connector is declared"),
        (
            {**controller_body(), "ready": False, "readiness": "not ready: pull failed"},
            2,
            "not ready: pull failed",
        ),
        (
            controller_body(
                connectors=[
                    {
                        "name": "Evil\x1b[2J\u202e",
                        "action": "update",
                        "origin": "pending",
                        "decision": "window",
                        "outcome": None,
                        "reason": "deny window",
                        "fields": ["description"],
                    }
                ]
            ),
            2,
            "Waiting for a sync window  Evil\\x1b[2J\\u202e  description — deny window",
        ),
    ],
)
def test_status_bodies_and_exit_codes(body: dict[str, Any], code: int, text: str) -> None:
    runner = CliRunner()
    with runner.isolation() as (out, _err, _):
        assert status_cli._print_controller(body, "http://127.0.0.1:9108", None) == code
    assert text in out.getvalue().decode()


def test_a_controller_of_another_environment_is_not_used() -> None:
    body = {**controller_body(), "environment": "staging"}
    with pytest.raises(NoController, match="reconciles environment 'staging'"):
        status_cli._print_controller(body, "http://127.0.0.1:9108", "production")


def test_terminal_text_is_cleaned() -> None:
    assert status_cli.clean("a\x1b]0;x\x07b\nc") == "a\\x1b]0;x\\x07b\\nc"
    assert status_cli.clean("plain <script>") == "plain <script>"
