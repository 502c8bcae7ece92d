"""A real HTTP receiver on 127.0.0.1 for Apprise's `json://` (what a webhook service gets),
able to answer at once, fail, or hang; a connectors project that notifies it, and the CLI
against the test's emulator."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from reconciler.cli.main import cli
from reconciler.testing import RunningEmulator

PROJECT = Path(__file__).parents[1] / "gitops" / "fixtures" / "project"
#: In every notification URL: it must never be printed, logged or put in the audit log.
URL_CANARY = "CANARY-notify-url-token-5c1d"
#: Canary credentials of the fixture connectors.
API_KEY = "CANARY-notify-api-key-91d2"
PASSWORD = "CANARY-notify-password-3e7a"


@dataclass
class Receiver:
    """Records each JSON body posted to it; `mode` is "ok", "fail" (HTTP 500) or "hang"."""

    port: int
    mode: str = "ok"
    posts: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    got: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, *, markdown: bool = True, token: str = URL_CANARY) -> str:
        query = "" if markdown else "?format=text"
        return f"json://127.0.0.1:{self.port}/hook/{token}{query}"

    def messages(self) -> list[str]:
        return [str(p.get("message", "")) for p in self.posts]

    def titles(self) -> list[str]:
        return [str(p.get("title", "")) for p in self.posts]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if state.mode == "hang":
                state.got.set()
                state.release.wait(30)
                return
            state.paths.append(self.path)
            state.posts.append(json.loads(body))
            state.got.set()
            status = 500 if state.mode == "fail" else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def dead_port() -> int:
    """A port nothing listens on (bound then closed)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The GitOps fixture repository as the working directory (notifications added by each
    test with `add_notifications`)."""
    root = tmp_path / "repo"
    shutil.copytree(PROJECT, root)
    with (root / "cxrecon.yaml").open("a") as file:
        file.write("project: notify-tests\n")
    monkeypatch.chdir(root)
    return root


def add_notifications(root: Path, block: str) -> None:
    """Append a `notifications:` block (YAML text) to the project's cxrecon.yaml."""
    with (root / "cxrecon.yaml").open("a") as file:
        file.write(block)


Run = Callable[..., Result]


@pytest.fixture
def run(emulator: RunningEmulator) -> Run:
    def invoke(*args: str, **extra: str) -> Result:
        env = {
            "CXONE_BASE_URL": emulator.base_url,
            "CXONE_CLIENT_ID": "demo-client",
            "CXONE_CLIENT_SECRET": "demo-secret",
            "GITOPS_SUPPORT_API_KEY": API_KEY,
            "GITOPS_LEGACY_PASSWORD": PASSWORD,
            "NO_COLOR": "1",
            "GITHUB_STEP_SUMMARY": "",
            **extra,
        }
        return CliRunner().invoke(cli, list(args), env=env)

    return invoke


def ids(emulator: RunningEmulator) -> dict[str, str]:
    response = httpx.get(
        emulator.base_url + "/crm/connectors",
        params={"top": 100},
        headers=emulator.control.auth_headers(),
    )
    return {item["name"]: item["id"] for item in response.json()["items"]}
