"""Finding the tenant through its discovery document (`CXONE_DISCOVERY_URL`, issue 15).

Against the emulator on a real port (it serves `/.well-known/cxone-configuration` naming
itself) and against a small counting server on another port that serves broken documents:
discovery resolves the hosts and a listing and `cxrecon plan` work through it; the document
is read once per client (so once per run); `CXONE_BASE_URL` wins when both are set; and a
broken document (404, not JSON, missing field, http URL for a remote host, ...) is a clear
error that names the URL and what to do, never a traceback.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from reconciler.cli.main import cli
from reconciler.config.project import load_project
from reconciler.config.settings import (
    EMULATOR_CLIENT_ID,
    EMULATOR_CLIENT_SECRET,
    ConnectionSettings,
)
from reconciler.cxone.client import CxoneClient
from reconciler.cxone.discovery import DISCOVERY_MAX_BYTES, DiscoveryError
from reconciler.cxone.errors import NotFound
from reconciler.cxone.retry import RetryPolicy
from reconciler.errors import ConfigError
from reconciler.testing import RunningEmulator

from .emulated import seed

pytestmark = pytest.mark.anyio

WELL_KNOWN = "/.well-known/cxone-configuration"
ROUTE = f"GET {WELL_KNOWN}"
FAST_RETRY = RetryPolicy(base=0.01, cap=0.02, max_attempts=2)
PLAN_FIXTURES = Path(__file__).parents[1] / "fixtures" / "plan" / "connectors"
CREDENTIALS = {"CXONE_CLIENT_ID": EMULATOR_CLIENT_ID, "CXONE_CLIENT_SECRET": EMULATOR_CLIENT_SECRET}


# --- a counting server for documents the emulator would never serve -----------------------


@dataclass
class Served:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


@dataclass
class DocServer:
    """Serves `pages[path]` on 127.0.0.1 and counts GETs per path."""

    root_url: str = ""
    pages: dict[str, Served] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)

    def serve(self, body: object | bytes, status: int = 200, **headers: str) -> str:
        """Serve `body` (JSON unless bytes) at the well-known path; its URL."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        served = Served(status, raw)
        served.headers.update(headers)
        self.pages[WELL_KNOWN] = served
        return self.root_url + WELL_KNOWN


@pytest.fixture
def doc_server() -> Iterator[DocServer]:
    state = DocServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            state.hits[path] = state.hits.get(path, 0) + 1
            page = state.pages.get(path, Served(404, b'{"error":"not_found"}'))
            self.send_response(page.status)
            for name, value in page.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(page.body)))
            self.end_headers()
            self.wfile.write(page.body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.root_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


def discovery_url(emulator: RunningEmulator, query: str = "") -> str:
    return emulator.root_url + WELL_KNOWN + query


def settings_for(url: str, **extra: str) -> ConnectionSettings:
    return ConnectionSettings.from_sources({"CXONE_DISCOVERY_URL": url, **CREDENTIALS, **extra})


def discovery_requests(emulator: RunningEmulator) -> dict[str, int]:
    counts: dict[str, int] = emulator.control.stats()["requests"].get(ROUTE, {})
    return counts


def good_document(emulator: RunningEmulator, **changes: object) -> dict[str, object]:
    document: dict[str, object] = {
        "api_endpoint": emulator.root_url,
        "token_endpoint": emulator.base_url + "/oauth/token",
    }
    document.update(changes)
    return {k: v for k, v in document.items() if v is not None}


# --- settings ----------------------------------------------------------------------------


def test_discovery_settings_leave_the_endpoints_to_the_document() -> None:
    settings = settings_for("https://cxone.example.com" + WELL_KNOWN + "?tenantId=t1")
    assert settings.needs_discovery
    assert (settings.base_url, settings.token_url) == ("", "")
    assert settings.discovery is not None
    assert settings.discovery.url.endswith("?tenantId=t1")
    assert (settings.discovery.api_field, settings.discovery.token_field) == (
        "api_endpoint",
        "token_endpoint",
    )
    assert settings.discovery.api_path == "/api/v2"


def test_field_names_path_and_hosts_are_settings() -> None:
    settings = settings_for(
        "https://cxone.example.com" + WELL_KNOWN,
        CXONE_DISCOVERY_API_FIELD="apiBase",
        CXONE_DISCOVERY_TOKEN_FIELD="tokenUrl",
        CXONE_DISCOVERY_API_PATH="/incontactapi/services/v31.0/",
        CXONE_DISCOVERY_HOSTS="*.NiceInContact.com, cxone.example.com",
    )
    assert settings.discovery is not None
    assert settings.discovery.api_field == "apiBase"
    assert settings.discovery.token_field == "tokenUrl"
    assert settings.discovery.api_path == "/incontactapi/services/v31.0"
    assert settings.discovery.allowed_hosts == ("*.niceincontact.com", "cxone.example.com")
    for as_is in ("", "/"):
        bare = settings_for("https://x.example", CXONE_DISCOVERY_API_PATH=as_is)
        assert bare.discovery is not None
        assert bare.discovery.api_path == ""


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CXONE_DISCOVERY_API_PATH", "api/v2"),
        ("CXONE_DISCOVERY_API_PATH", "/api/v2?x=1"),
        ("CXONE_DISCOVERY_HOSTS", "evil.com/x"),
    ],
)
def test_a_bad_discovery_setting_is_a_config_error(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        settings_for("https://cxone.example.com" + WELL_KNOWN, **{variable: value})


def test_without_base_url_or_discovery_the_error_names_both() -> None:
    with pytest.raises(ConfigError, match=r"CXONE_BASE_URL.*CXONE_DISCOVERY_URL"):
        ConnectionSettings.from_sources(CREDENTIALS)


def test_an_http_discovery_url_to_a_remote_host_is_refused() -> None:
    settings = settings_for("http://cxone.example.com" + WELL_KNOWN)
    with pytest.raises(ConfigError, match="CXONE_DISCOVERY_URL must use https://"):
        CxoneClient(settings)


def test_the_project_file_names_the_discovery_document(tmp_path: Path) -> None:
    (tmp_path / "cxrecon.yaml").write_text(
        "environments:\n"
        "  prod:\n"
        "    discovery: https://cxone.example.com/.well-known/cxone-configuration?tenantId=t1\n"
        "    clientId: cxrecon-prod\n",
        encoding="utf-8",
    )
    env = load_project(tmp_path).environment("prod")
    assert env.connection["discovery"].startswith("https://cxone.example.com/")
    settings = ConnectionSettings.from_sources({"CXONE_CLIENT_SECRET": "s"}, env.connection)
    assert settings.needs_discovery
    assert settings.discovery is not None
    assert settings.discovery.url.endswith("?tenantId=t1")


def test_a_non_url_discovery_in_the_project_file_is_a_located_error(tmp_path: Path) -> None:
    (tmp_path / "cxrecon.yaml").write_text(
        "environments:\n  prod:\n    discovery: cxone.example.com\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"cxrecon.yaml:3:\d+.*http\(s\)://"):
        load_project(tmp_path)


def test_base_url_wins_over_discovery_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="reconciler.config.settings")
    settings = ConnectionSettings.from_sources(
        {
            "CXONE_BASE_URL": "https://api.example.com/api/v2",
            "CXONE_DISCOVERY_URL": "https://user:pw@cxone.example.com" + WELL_KNOWN + "?t=1",
            **CREDENTIALS,
        }
    )
    assert settings.base_url == "https://api.example.com/api/v2"
    assert settings.discovery is None
    assert not settings.needs_discovery
    (line,) = [r.getMessage() for r in caplog.records if "discovery" in r.getMessage()]
    assert "CXONE_BASE_URL" in line
    assert "base URL wins" in line
    assert "https://cxone.example.com/.well-known/cxone-configuration?…" in line
    assert "pw" not in line


# --- against the emulator on a real port --------------------------------------------------


async def test_discovery_resolves_the_emulator_and_a_listing_works_through_it(
    emulator: RunningEmulator,
) -> None:
    seed(emulator.runtime, 3)
    async with CxoneClient(settings_for(discovery_url(emulator, "?tenantId=t1"))) as client:
        assert client.settings.base_url == emulator.base_url
        assert client.settings.token_url == emulator.base_url + "/oauth/token"
        listed = await client.list_connectors()
        again = await client.get_connector(listed[0].id)
        await client.list_connectors()
    assert len(listed) == 3
    assert again.id == listed[0].id
    assert discovery_requests(emulator) == {"200": 1}
    assert client.stats.snapshot().get("discovery").requests == 1


async def test_the_password_grant_with_basic_auth_works_through_discovery(
    emulator: RunningEmulator,
) -> None:
    settings = settings_for(
        discovery_url(emulator),
        CXONE_GRANT="password",
        CXONE_USERNAME="demo-user",
        CXONE_PASSWORD="demo-password",
    )
    async with CxoneClient(settings) as client:
        assert await client.list_connectors() == []


async def test_the_document_is_read_once_per_client(emulator: RunningEmulator) -> None:
    settings = settings_for(discovery_url(emulator))
    for _ in range(2):  # two runs (or two controller cycles): one read each
        async with CxoneClient(settings, parallelism=4) as client:
            for _ in range(3):
                await client.list_connectors()
    assert discovery_requests(emulator) == {"200": 2}


async def test_base_url_wins_and_the_document_is_not_read(emulator: RunningEmulator) -> None:
    settings = settings_for(discovery_url(emulator), CXONE_BASE_URL=emulator.base_url)
    assert not settings.needs_discovery
    async with CxoneClient(settings) as client:
        assert await client.list_connectors() == []
    assert discovery_requests(emulator) == {}


async def test_an_explicit_token_url_wins_over_the_document(
    emulator: RunningEmulator, doc_server: DocServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="reconciler.cxone.discovery")
    url = doc_server.serve(good_document(emulator, token_endpoint="https://auth.example/token"))
    token_url = emulator.base_url + "/oauth/token"
    async with CxoneClient(settings_for(url, CXONE_TOKEN_URL=token_url)) as client:
        assert client.settings.token_url == token_url
        assert await client.list_connectors() == []
    assert any("CXONE_TOKEN_URL" in r.getMessage() for r in caplog.records)


async def test_a_document_shaped_like_real_cxones_works_with_a_token_url(
    emulator: RunningEmulator, doc_server: DocServer
) -> None:
    # The real cxone-configuration has api_endpoint (a bare host) and no token endpoint.
    url = doc_server.serve({"area": "na1", "api_endpoint": emulator.root_url + "/"})
    settings = settings_for(url, CXONE_TOKEN_URL=emulator.base_url + "/oauth/token")
    async with CxoneClient(settings) as client:
        assert client.settings.base_url == emulator.base_url
        assert await client.list_connectors() == []
    assert doc_server.hits == {WELL_KNOWN: 1}


@pytest.mark.parametrize(
    ("endpoint", "api_path", "expected"),
    [
        ("{root}/api/v2", None, "{root}/api/v2"),  # the document gives the full path
        ("{root}/api/v2/", None, "{root}/api/v2"),
        ("{root}/api/v2", "", "{root}/api/v2"),  # CXONE_DISCOVERY_API_PATH empty: as it is
        ("{root}/api", "/v2", "{root}/api/v2"),
    ],
)
async def test_the_api_path_is_appended_unless_already_there(
    emulator: RunningEmulator,
    doc_server: DocServer,
    endpoint: str,
    api_path: str | None,
    expected: str,
) -> None:
    root = emulator.root_url
    url = doc_server.serve(good_document(emulator, api_endpoint=endpoint.format(root=root)))
    extra = {} if api_path is None else {"CXONE_DISCOVERY_API_PATH": api_path}
    async with CxoneClient(settings_for(url, **extra)) as client:
        assert client.settings.base_url == expected.format(root=root)
        assert await client.list_connectors() == []


async def test_custom_field_names(emulator: RunningEmulator, doc_server: DocServer) -> None:
    token_url = emulator.base_url + "/oauth/token"
    url = doc_server.serve({"apiBase": emulator.root_url, "auth": token_url})
    settings = settings_for(
        url, CXONE_DISCOVERY_API_FIELD="apiBase", CXONE_DISCOVERY_TOKEN_FIELD="auth"
    )
    async with CxoneClient(settings) as client:
        assert await client.list_connectors() == []


async def test_a_wrong_api_path_says_it_came_from_discovery(
    emulator: RunningEmulator,
) -> None:
    settings = settings_for(discovery_url(emulator), CXONE_DISCOVERY_API_PATH="/api/v9")
    async with CxoneClient(settings, retry=FAST_RETRY) as client:
        with pytest.raises(NotFound, match="CXONE_DISCOVERY_API_PATH"):
            await client.list_connectors()


# --- broken documents ---------------------------------------------------------------------

Case = Callable[[RunningEmulator, DocServer], str]


def _served(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Case:
    """Serve `body` (JSON unless bytes) from the counting server; the case gives its URL."""

    def make(emulator: RunningEmulator, server: DocServer) -> str:
        return server.serve(body, status, **(headers or {}))

    return make


def _document(**changes: object) -> Case:
    """Serve the emulator's own endpoints with `changes` (None removes a field)."""

    def make(emulator: RunningEmulator, server: DocServer) -> str:
        return server.serve(good_document(emulator, **changes))

    return make


BROKEN: dict[str, tuple[Case, list[str]]] = {
    "404": (
        lambda emulator, server: server.root_url + "/.well-known/nothing-here",
        ["HTTP 404", "not found", "check CXONE_DISCOVERY_URL"],
    ),
    "not JSON": (
        _served(b"<html>sign in</html>", headers={"Content-Type": "text/html"}),
        ["is not JSON (text/html)", "check CXONE_DISCOVERY_URL"],
    ),
    "not an object": (_served([1, 2, 3]), ["is not a JSON object"]),
    "missing api field": (
        _served({"area": "na1", "token_endpoint": "https://auth.example/token"}),
        [
            "has no `api_endpoint` field for the API host; its fields: area, token_endpoint",
            "set CXONE_DISCOVERY_API_FIELD",
        ],
    ),
    "missing token field": (
        _document(token_endpoint=None),
        ["has no `token_endpoint` field", "set CXONE_TOKEN_URL", "openid-configuration"],
    ),
    "api field not a string": (
        _served({"api_endpoint": 42, "token_endpoint": "https://a.example/t"}),
        ["the document's `api_endpoint` field is not a URL string"],
    ),
    "http URL for a remote host": (
        _document(api_endpoint="http://api-na1.example.com"),
        ["`api_endpoint` uses plain http for http://api-na1.example.com", "https://"],
    ),
    "http token URL for a remote host": (
        _document(token_endpoint="http://auth.example.com/token"),
        ["`token_endpoint` uses plain http for http://auth.example.com"],
    ),
    "not a URL": (
        _document(api_endpoint="api-na1.example.com"),
        ["`api_endpoint` is not a full http(s) URL"],
    ),
    "user info": (
        _document(api_endpoint="https://u:p@api.example.com"),
        ["`api_endpoint` carries user info"],
    ),
    "too deep": (_served(b"[" * 100 + b"]" * 100), ["nests JSON deeper than 64 levels"]),
    "too large": (
        _served(b'{"pad":"' + b"x" * DISCOVERY_MAX_BYTES + b'"}'),
        ["larger than 1 MiB", "not a discovery document"],
    ),
    "redirect": (
        _served(b"", 302, {"Location": "https://elsewhere.example/.well-known/x?secret=1"}),
        ["redirects to https://elsewhere.example/.well-known/x?…", "HTTP 302"],
    ),
    "server error": (_served(b"oops", 500), ["HTTP 500", "after 2 attempts"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
async def test_a_broken_document_is_a_clear_error(
    emulator: RunningEmulator, doc_server: DocServer, case: str
) -> None:
    make, expected = BROKEN[case]
    url = make(emulator, doc_server)
    with pytest.raises(DiscoveryError) as caught:
        async with CxoneClient(settings_for(url), retry=FAST_RETRY):
            pytest.fail("the client must not open")
    message = str(caught.value)
    assert message.startswith("discovery: ")
    assert f"discovery document {url.split('?')[0]}" in message
    for part in expected:
        assert part in message, message
    # Nothing was sent to the tenant: no token was asked for.
    assert emulator.control.stats()["requests"].get("POST /api/v2/oauth/token", {}) == {}


async def test_an_unreachable_document_is_a_clear_error(doc_server: DocServer) -> None:
    closed = doc_server.root_url.rsplit(":", 1)[0] + ":9"  # discard port: nothing listens
    with pytest.raises(DiscoveryError) as caught:
        async with CxoneClient(settings_for(closed + WELL_KNOWN), retry=FAST_RETRY):
            pytest.fail("the client must not open")
    message = str(caught.value)
    assert "could not read the discovery document (ConnectError" in message
    assert "after 2 attempts" in message
    assert "check network access" in message


async def test_a_host_outside_the_allowlist_is_refused(
    emulator: RunningEmulator, doc_server: DocServer
) -> None:
    url = doc_server.serve(good_document(emulator))
    settings = settings_for(url, CXONE_DISCOVERY_HOSTS="*.niceincontact.com")
    with pytest.raises(DiscoveryError, match=r"names 127\.0\.0\.1, which is not in"):
        async with CxoneClient(settings):
            pytest.fail("the client must not open")
    allowed = settings_for(url, CXONE_DISCOVERY_HOSTS="*.niceincontact.com 127.0.0.1")
    async with CxoneClient(allowed) as client:
        assert await client.list_connectors() == []


async def test_a_remote_document_may_not_point_at_this_machine() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.host == "cxone.example.com", "nothing else may be asked"
        return httpx.Response(
            200,
            json={
                "api_endpoint": "https://127.0.0.1:8443",
                "token_endpoint": "https://cxone.example.com/auth/token",
            },
        )

    settings = settings_for("https://cxone.example.com" + WELL_KNOWN)
    with pytest.raises(DiscoveryError, match="names this machine"):
        async with CxoneClient(settings, transport=httpx.MockTransport(answer)):
            pytest.fail("the client must not open")


async def test_a_remote_document_naming_https_hosts_resolves() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url}")
        if request.url.path == WELL_KNOWN:
            return httpx.Response(200, json={"api_endpoint": "https://api-na1.example.com"})
        if request.url.path == "/auth/token":
            assert request.headers["Authorization"].startswith("Basic ")
            return httpx.Response(200, json={"access_token": "t0k3n", "expires_in": 3600})
        return httpx.Response(200, json={"items": [], "totalRecords": 0})

    settings = settings_for(
        "https://cxone.example.com" + WELL_KNOWN + "?tenantId=t1",
        CXONE_TOKEN_URL="https://cxone.example.com/auth/token",
        CXONE_GRANT="password",
        CXONE_USERNAME="access-key-id",
        CXONE_PASSWORD="access-key-secret",
    )
    async with CxoneClient(settings, transport=httpx.MockTransport(answer)) as client:
        assert await client.list_connectors() == []
    assert seen == [
        "GET https://cxone.example.com/.well-known/cxone-configuration?tenantId=t1",
        "POST https://cxone.example.com/auth/token",
        "GET https://api-na1.example.com/api/v2/crm/connectors?skip=0&top=100",
    ]


# --- through the CLI, in process -----------------------------------------------------------


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(PLAN_FIXTURES, tmp_path / "connectors")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli_plan(url: str | None, *args: str, **extra: str | None) -> Result:
    env: dict[str, str | None] = {
        "CXONE_BASE_URL": None,
        "CXONE_TOKEN_URL": None,
        "CXONE_DISCOVERY_URL": url,
        **CREDENTIALS,
        "PLAN_TEST_API_KEY": "CANARY-api-key-0b9d2e",
        "PLAN_TEST_PASSWORD": "CANARY-password-51c7aa",
        "NO_COLOR": "1",
        "GITHUB_STEP_SUMMARY": "",
        **extra,
    }
    return CliRunner().invoke(cli, ["plan", *args], env=env)


def test_cli_plan_through_discovery(emulator: RunningEmulator, workdir: Path) -> None:
    result = cli_plan(discovery_url(emulator), "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert result.stdout.startswith("Plan: 2 to create, 0 unchanged.")
    assert discovery_requests(emulator) == {"200": 1}


def test_cli_plan_with_discovery_in_the_project_file(
    emulator: RunningEmulator, workdir: Path
) -> None:
    (workdir / "cxrecon.yaml").write_text(
        f"environments:\n  local:\n    discovery: {discovery_url(emulator, '?tenantId=t1')}\n",
        encoding="utf-8",
    )
    result = cli_plan(None, "-e", "local", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert discovery_requests(emulator) == {"200": 1}


def test_cli_plan_base_url_wins(
    emulator: RunningEmulator, workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="reconciler.config.settings")
    result = cli_plan(
        discovery_url(emulator), "--detailed-exitcode", CXONE_BASE_URL=emulator.base_url
    )
    assert result.exit_code == 2, result.output
    assert discovery_requests(emulator) == {}
    assert any("the base URL wins" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "case", ["404", "not JSON", "missing api field", "http URL for a remote host"]
)
def test_cli_plan_with_a_broken_document_is_an_error_without_a_traceback(
    emulator: RunningEmulator, doc_server: DocServer, workdir: Path, case: str
) -> None:
    make, expected = BROKEN[case]
    url = make(emulator, doc_server)
    result = cli_plan(url)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    (line,) = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert line.startswith("error: discovery: ")
    assert url.split("?")[0] in line
    for part in expected:
        assert part in line, line
