"""A hostile server never gets a traceback, unbounded memory, an endless wait or a token into
a log out of cxrecon: every case ends in one clear error naming the host and what to do.

The server is real (`hostile_server.py`, on 127.0.0.1); the client's cap and deadline are
set small here so each case ends within seconds.
"""

from __future__ import annotations

import logging
import shutil
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from click.testing import CliRunner

from reconciler.cli.main import cli
from reconciler.config.settings import ConnectionSettings
from reconciler.cxone.bounded import ResponseLimits
from reconciler.cxone.client import CxoneClient
from reconciler.cxone.errors import (
    CxoneApiError,
    MalformedResponse,
    PermissionDenied,
    ResponseTimeout,
    ResponseTooLarge,
    ServerError,
)
from reconciler.cxone.retry import RetryPolicy
from reconciler.secret import Secret

from .hostile_server import BOMB_BYTES, FLOOD_BYTES, TOKEN, HostileServer

pytestmark = pytest.mark.timeout(120)

ROOT: Final = Path(__file__).resolve().parents[2]
MiB: Final = 1024 * 1024
CAP: Final = 1 * MiB
DEADLINE: Final = 1.0
SECRET: Final = "hostile-suite-client-secret-93ad"


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as running:
        yield running


async def _no_wait(seconds: float) -> None:
    """Retries back off on no clock here: only the number of attempts matters."""


def client_for(server: HostileServer, mode: str) -> CxoneClient:
    base = server.base_url(mode)
    settings = ConnectionSettings(
        base_url=base,
        token_url=f"{base}/oauth/token",
        client_id="cxrecon-hostile",
        client_secret=Secret(SECRET),
    )
    return CxoneClient(
        settings,
        retry=RetryPolicy(max_attempts=3, sleep=_no_wait),
        response_limits=ResponseLimits(max_bytes=CAP, deadline=DEADLINE),
    )


def hostile_requests(server: HostileServer, mode: str, endpoint: str) -> int:
    return sum(1 for p in server.paths() if p.startswith(f"/{mode}/") and p.endswith(endpoint))


def assert_clear(error: CxoneApiError, server: HostileServer, says: str) -> None:
    message = str(error)
    assert says in message
    assert server.host in message, "the error must name the server"
    assert error.hint, "the error must say what to do"
    assert message.endswith(error.hint)
    assert "\n" not in message
    assert len(message) < 600


# --- nested JSON -------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("mode", "error", "says"),
    [
        ("nested-token", MalformedResponse, "token: the token response nests JSON deeper than"),
        ("nested-list", MalformedResponse, "list_connectors: the answer nests JSON deeper than"),
        ("nested-error", ServerError, "list_connectors: server error"),
    ],
)
async def test_deeply_nested_json_is_a_clear_error_not_a_recursion_error(
    server: HostileServer, mode: str, error: type[CxoneApiError], says: str
) -> None:
    async with client_for(server, mode) as client:
        with pytest.raises(error) as caught:
            await client.list_connectors()
    assert type(caught.value) is error
    assert_clear(caught.value, server, says)
    assert "[[[" not in str(caught.value)


# --- slow and oversized answers ----------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("mode", "endpoint"), [("trickle", "/crm/connectors"), ("trickle-token", "/oauth/token")]
)
async def test_a_trickling_answer_ends_at_the_total_deadline_and_is_not_retried(
    server: HostileServer, mode: str, endpoint: str
) -> None:
    started = time.monotonic()
    async with client_for(server, mode) as client:
        with pytest.raises(ResponseTimeout) as caught:
            await client.list_connectors()
    elapsed = time.monotonic() - started
    assert DEADLINE <= elapsed < DEADLINE + 10  # never the trickle's whole minute
    assert_clear(caught.value, server, f"did not arrive within {DEADLINE:g} s")
    assert hostile_requests(server, mode, endpoint) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("mode", "endpoint"),
    [
        ("flood", "/crm/connectors"),
        ("flood-token", "/oauth/token"),
        ("gzip-bomb", "/crm/connectors"),
        ("gzip-bomb-token", "/oauth/token"),
    ],
)
async def test_an_oversized_answer_stops_at_the_cap_on_decoded_bytes(
    server: HostileServer, mode: str, endpoint: str
) -> None:
    tracemalloc.start()
    try:
        async with client_for(server, mode) as client:
            with pytest.raises(ResponseTooLarge) as caught:
                await client.list_connectors()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB for a {CAP / MiB:g} MiB cap"
    assert_clear(caught.value, server, "more than 1 MiB")
    assert hostile_requests(server, mode, endpoint) == 1
    if mode.startswith("flood"):  # the client hung up instead of reading on
        assert server.sent[mode] < FLOOD_BYTES / 2
    else:
        assert BOMB_BYTES > 64 * CAP


# --- credentials echoed back -------------------------------------------------------------


@pytest.mark.anyio
async def test_an_echoed_token_never_reaches_a_debug_log(
    server: HostileServer, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("httpx", "httpcore", "reconciler"):
        caplog.set_level(logging.DEBUG, logger=name)
    async with client_for(server, "echo") as client:
        with pytest.raises(PermissionDenied) as caught:
            await client.list_connectors()
    sent = [s.headers.get("authorization", "") for s in server.requests if "/crm/" in s.path]
    assert sent == [f"Bearer {TOKEN}"]  # the token really went out, and came back
    logged_headers = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("httpcore") and "Proxy-Authorization" in r.getMessage()
    ]
    assert logged_headers, "httpcore logged no response headers: nothing was tested"
    assert "(b'Authorization', b'***')" in logged_headers[0]
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in logged
    assert TOKEN not in str(caught.value)
    assert_clear(caught.value, server, "list_connectors: permission denied")


# --- through the CLI ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("nested-list", "the answer nests JSON deeper than"),
        ("nested-token", "the token response nests JSON deeper than"),
        ("gzip-bomb", "a page of the listing passed 16 MiB"),  # its share of 256 MiB
    ],
)
def test_the_cli_reports_a_hostile_server_in_one_line(
    server: HostileServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    says: str,
) -> None:
    (tmp_path / "connectors").mkdir()
    shutil.copy(ROOT / "connectors" / "legacy-zendesk-basic.yaml", tmp_path / "connectors")
    monkeypatch.chdir(tmp_path)
    env = {
        "CXONE_BASE_URL": server.base_url(mode),
        "CXONE_CLIENT_ID": "cxrecon-hostile",
        "CXONE_CLIENT_SECRET": SECRET,
        "NO_COLOR": "1",
        "GITHUB_STEP_SUMMARY": "",
    }
    result = CliRunner().invoke(cli, ["plan", "connectors"], env=env)
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert says in lines[0]
    assert server.host in lines[0]
    assert SECRET not in result.output
