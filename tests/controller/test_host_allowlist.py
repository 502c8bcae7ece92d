"""The controller's endpoints answer only expected Host headers (issue 22, break 8): IP literals
(what Kubernetes probes and a Prometheus scrape by pod IP send), localhost, and names given with
--allowed-host / CXRECON_ALLOWED_HOSTS; any other name gets 421 and no tenant data, so a page
that DNS-rebinds its own name to the controller reads nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner

from reconciler.cli.main import cli
from reconciler.controller.health import HealthServer, ListenAddress
from reconciler.controller.page.headers import HostAllowList, host_of
from reconciler.errors import ConfigError

from .helpers import CANARY, ControllerFactory, connector_yaml, git

pytestmark = pytest.mark.anyio

ENDPOINTS = ("/status", "/", "/metrics", "/healthz", "/readyz", "/connectors/Alpha")


async def request(port: int, head: str) -> tuple[int, bytes]:
    """Send a raw request head (its Host lines exactly as given); the status and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode("latin-1") + b"\r\n")
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def get(path: str, host: str | None, version: str = "HTTP/1.1", method: str = "GET") -> str:
    return f"{method} {path} {version}\r\n" + (f"Host: {host}\r\n" if host is not None else "")


@pytest.fixture
async def served(make_controller: ControllerFactory) -> AsyncIterator[Callable[..., Any]]:
    """A controller that has run a cycle (so /status holds tenant data), served on a real
    port with `ops.example.com` allowed; yields `ask(head) -> (status, body)`."""
    controller = make_controller()
    await controller.cycle()
    hosts = HostAllowList.of(["ops.example.com", "Status.Example.COM."])
    server = HealthServer(ListenAddress("127.0.0.1", 0), controller, hosts)
    bound = await server.start()
    try:
        yield lambda head: request(bound.port, head)
    finally:
        await server.close()


REFUSED = (
    "attacker.example",
    "attacker.example:9108",
    "127.0.0.1.nip.io",
    "localhost.attacker.example",
)
ANSWERED = (
    "127.0.0.1",
    "127.0.0.1:9108",
    "10.244.3.17:9108",  # a kubelet probe or a Prometheus scrape by pod IP
    "[::1]:9108",
    "[fd00:10:244::5]",
    "localhost",
    "LOCALHOST:9108",
    "localhost.",
    "ops.example.com",
    "OPS.example.com:443",
    "status.example.com",
)


async def test_a_host_name_not_given_gets_421_and_no_tenant_data(
    served: Callable[..., Any],
) -> None:
    for host in REFUSED:
        for path in ENDPOINTS:
            status, body = await served(get(path, host))

            assert status == 421, (host, path)
            assert body.startswith(b"misdirected request")
            assert len(body) < 200
            assert b"Alpha" not in body
            assert b"cycle" not in body


async def test_ip_literals_localhost_and_given_names_are_answered(
    served: Callable[..., Any],
) -> None:
    for host in ANSWERED:
        status, body = await served(get("/status", host))

        assert status == 200, (host, body)
        assert b'"lastCycle"' in body


async def test_probes_and_the_page_are_answered_by_pod_ip(served: Callable[..., Any]) -> None:
    for path in ENDPOINTS:
        status, _ = await served(get(path, "10.244.3.17:9108"))
        assert status in (200, 503), path  # /readyz may say not ready; it still answers


async def test_head_of_a_refused_host_gets_421_without_a_body(
    served: Callable[..., Any],
) -> None:
    assert await served(get("/status", "attacker.example", method="HEAD")) == (421, b"")


async def test_http_1_0_without_host_is_answered_but_http_1_1_must_send_one(
    served: Callable[..., Any],
) -> None:
    # Every browser sends Host, so a request without one is no rebinding page's; old
    # health checkers (HAProxy's httpchk, nc scripts) send HTTP/1.0 without it.
    assert (await served(get("/healthz", None, "HTTP/1.0")))[0] == 200
    assert (await served(get("/status", None, "HTTP/1.0")))[0] == 200
    status, body = await served(get("/status", None))
    assert status == 400
    assert b"Host" in body


@pytest.mark.parametrize(
    "head",
    [
        get("/status", "127.0.0.1") + "Host: attacker.example\r\n",
        get("/status", "user@127.0.0.1"),
        get("/status", "127.0.0.1:99999"),
        get("/status", "attacker example"),
        get("/status", "[::1"),
    ],
)
async def test_a_malformed_or_repeated_host_is_a_bad_request(
    served: Callable[..., Any], head: str
) -> None:
    status, body = await served(head)

    assert status == 400
    assert b"Alpha" not in body


def test_host_values_are_parsed_as_host_and_port() -> None:
    assert host_of("Example.COM.:80") == "example.com"
    assert host_of("[FE80::1]:9108") == "fe80::1"
    assert host_of("::1") is None  # an IPv6 address is written in brackets
    assert host_of("host:") is None


@pytest.mark.parametrize(
    "name", ["https://ops.example.com", "ops.example.com:9108", "*.example.com", "a b", ""]
)
def test_an_allowed_host_that_is_not_a_name_is_refused_in_one_line(name: str) -> None:
    with pytest.raises(ConfigError, match="is not a host name") as caught:
        HostAllowList.of([name])
    assert "\n" not in str(caught.value)


def test_reconcile_refuses_a_bad_allowed_host_with_exit_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["reconcile", "--repo", str(tmp_path), "--once", "--no-pull"],
        env={"CXRECON_ALLOWED_HOSTS": "ops.example.com, https://x.example/"},
    )

    assert result.exit_code == 1
    assert "'https://x.example/' is not a host name" in result.output
    assert "Traceback" not in result.output


def _resolving(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """`name` resolves to 127.0.0.1 in this process (as an ingress name would elsewhere)."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == name else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


async def test_cxrecon_status_works_by_ip_by_localhost_and_by_a_given_name(
    make_controller: ControllerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    _resolving(monkeypatch, "ops.example.com")
    controller = make_controller()
    await controller.cycle()
    server = HealthServer(
        ListenAddress("127.0.0.1", 0), controller, HostAllowList.of(["ops.example.com"])
    )
    port = (await server.start()).port

    def status(url: str) -> Any:
        return CliRunner().invoke(
            cli, ["status", "--timeout", "20"], env={"CXRECON_STATUS_URL": url}
        )

    try:
        answers = {
            url: await anyio.to_thread.run_sync(status, url)
            for url in (
                f"http://127.0.0.1:{port}",
                f"http://localhost:{port}",
                f"http://ops.example.com:{port}",
            )
        }
    finally:
        await server.close()

    for url, result in answers.items():
        assert result.exit_code == 0, (url, result.output)
        assert f"Controller at {url}" in result.output


async def test_cxrecon_status_says_how_to_allow_a_name_the_controller_refuses(
    make_controller: ControllerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    _resolving(monkeypatch, "ops.example.com")
    server = HealthServer(ListenAddress("127.0.0.1", 0), make_controller())
    port = (await server.start()).port
    url = f"http://ops.example.com:{port}"
    try:
        result = await anyio.to_thread.run_sync(
            lambda: CliRunner().invoke(cli, ["status", "--url", url, "--timeout", "20"])
        )
    finally:
        await server.close()

    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert "421" in line
    assert "--allowed-host ops.example.com" in line
    assert "planning once" not in result.output  # a controller answered: no tenant fallback


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        # The environment's comma-separated names...
        ((), {"env-a.example": 200, "env-b.example:80": 200, "flag.example": 421}),
        # ...which the command line's replace, as every option's environment variable.
        (
            ("--allowed-host", "flag.example", "--allowed-host", "FLAG2.example."),
            {"flag.example": 200, "flag2.example": 200, "env-a.example": 421},
        ),
    ],
)
def test_reconcile_serves_the_names_it_was_given(
    tmp_path: Path, flags: tuple[str, ...], expected: dict[str, int]
) -> None:
    (tmp_path / "cxrecon.yaml").write_text("project: hosts\nconnectors: connectors/\n")
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "alpha.yaml").write_text(connector_yaml("Alpha"))
    git(tmp_path, "init", "-q")
    env = {
        **os.environ,
        "CRM_API_KEY": CANARY,
        "CXRECON_ALLOWED_HOSTS": "env-a.example, env-b.example",
    }
    args = [
        *("--repo", str(tmp_path), "--emulator", "--no-pull", "--interval", "1h"),
        # Port 0: the OS picks a free one (no race with other tests, in other workers too).
        *("--listen", "127.0.0.1:0", "--audit-log", str(tmp_path / "audit.jsonl")),
        *flags,
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "reconcile", *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "serving /healthz" in line:
                port = int(line.rstrip().rsplit(":", 1)[1])  # the line ends with the address
                break
        else:
            raise AssertionError("the controller did not start serving")

        async def ask_all() -> dict[str, int]:
            return {h: (await request(port, get("/healthz", h)))[0] for h in expected}

        answers = asyncio.run(ask_all())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)

    assert answers == expected
    assert proc.returncode == 0
