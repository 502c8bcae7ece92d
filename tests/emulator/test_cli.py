"""`cxrecon emulator serve|reset` as a user runs them."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from reconciler.cli.main import cli
from reconciler.testing import RunningEmulator, api_client

Body = Callable[..., dict[str, Any]]


def test_serve_runs_the_api_until_terminated(tmp_path: Path) -> None:
    db = tmp_path / "cli.sqlite"
    command = [
        sys.executable,
        "-m",
        "reconciler",
        "emulator",
        "serve",
        "--port",
        "0",
        "--db",
        str(db),
        "--no-access-log",
        "--token-ttl",
        "60",
        "--conflict-status",
        "409",
        "--seed",
        "3",
        "--latency-ms",
        "1",
        "--jitter-ms",
        "1",
    ]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        found = re.search(r"on (http://127\.0\.0\.1:\d+/api/v2)", banner)
        assert found, banner
        token = httpx.post(
            found.group(1) + "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "demo-client",
                "client_secret": "demo-secret",
            },
        )
        assert token.json()["expires_in"] == 60
        settings = httpx.get(found.group(1).replace("/api/v2", "/_emulator/faults")).json()
        assert settings["conflictStatus"] == 409
        assert settings["seed"] == 3
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()
    assert db.exists()


def test_serve_on_a_port_in_use_says_so_without_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            cli, ["emulator", "serve", "--port", str(port), "--db", str(tmp_path / "x.sqlite")]
        )
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output


def test_serve_with_an_unusable_db_says_what_to_do_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    db = tmp_path / "file" / "state.sqlite"
    result = CliRunner().invoke(cli, ["emulator", "serve", "--port", "0", "--db", str(db)])
    assert result.exit_code == 1
    assert f"cannot open the emulator state {db}" in result.output
    assert "pass --db a file in a writable directory" in result.output
    assert "Traceback" not in result.output


def test_serve_rejects_unknown_fault_kinds(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["emulator", "serve", "--fault-kinds", "500,boom", "--db", str(tmp_path / "x.sqlite")],
    )
    assert result.exit_code == 1
    assert "unknown fault kind" in result.output


def test_serve_rejects_a_bad_conflict_status(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["emulator", "serve", "--conflict-status", "400"])
    assert result.exit_code == 2
    assert "409" in result.output


def test_reset_wipes_connectors_in_the_database(
    emulator_factory: Callable[..., RunningEmulator], tmp_path: Path, body: Body
) -> None:
    db = tmp_path / "reset.sqlite"
    running = emulator_factory(db_path=db)
    with api_client(running) as api:
        api.create(body())
    running.stop()
    result = CliRunner().invoke(cli, ["emulator", "reset", "--db", str(db)])
    assert result.exit_code == 0
    again = emulator_factory(db_path=db)
    with api_client(again) as api:
        assert api.get("/crm/connectors").json()["totalRecords"] == 0


def test_reset_of_a_missing_database_is_a_no_op(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["emulator", "reset", "--db", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 0
    assert "nothing to reset" in result.output
    assert not (tmp_path / "none.sqlite").exists()
