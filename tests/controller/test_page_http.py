"""The status page over HTTP, from a controller running against the emulator: every connector
listed with its state, drift shown within one cycle, the detail page, escaping, no secret, the
security headers, and the same connectors as /status."""

from __future__ import annotations

import asyncio
from html.parser import HTMLParser
from urllib.parse import quote

import httpx
import pytest

from reconciler.controller.health import HealthServer, ListenAddress
from reconciler.controller.page.headers import CONTENT_SECURITY_POLICY
from reconciler.testing import RunningEmulator

from .helpers import CANARY, ConnectorsRepo, ControllerFactory, connector_yaml, remote_connectors
from .page_support import HOSTILE_NAME, seed_orphan

pytestmark = pytest.mark.anyio


class ConnectorRows(HTMLParser):
    """(name, data-state) of each row of the connectors table, and every <script> seen."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, str]] = []
        self.scripts = 0
        self._in_table = False
        self._in_name = False
        self._name = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "table" and "connectors" in (values.get("class") or ""):
            self._in_table = True
        if self._in_table and tag == "th" and values.get("scope") == "row":
            self._in_name, self._name = True, ""
        if self._in_table and tag == "span" and values.get("data-state"):
            self.rows.append((self._name, values["data-state"] or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "th":
            self._in_name = False
        if tag == "table":
            self._in_table = False

    def handle_data(self, data: str) -> None:
        if self._in_name:
            self._name += data


def rows_of(html: str) -> dict[str, str]:
    parser = ConnectorRows()
    parser.feed(html)
    assert parser.scripts == 0, "the page runs no script"
    return dict(parser.rows)


async def test_the_page_lists_connectors_and_shows_drift_after_one_cycle(
    make_controller: ControllerFactory, repo: ConnectorsRepo, emulator: RunningEmulator
) -> None:
    repo.commit(
        {"connectors/beta.yaml": connector_yaml("Beta", description="<img src=x onerror=alert(2)>")}
    )
    seed_orphan(emulator, repo.checkout)
    controller = make_controller()
    server = HealthServer(ListenAddress("127.0.0.1", 0), controller)
    bound = await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bound.port}") as http:
            before = await http.get("/")
            assert before.status_code == 200
            assert "first reconcile cycle has not finished" in before.text

            await controller.cycle()
            first = await http.get("/")
            assert rows_of(first.text) == {
                "Alpha": "applied",
                "Beta": "applied",
                HOSTILE_NAME: "orphan",
            }

            alpha_id = remote_connectors(emulator)["Alpha"]["id"]
            emulator.control.edit(alpha_id, {"description": "edited in the CXone UI"})
            await controller.cycle()
            page = await http.get("/")
            status = (await http.get("/status")).json()
            detail = await http.get("/connectors/Alpha")
            hostile = await http.get("/connectors/" + quote(HOSTILE_NAME, safe=""))
            beta = await http.get("/connectors/Beta")
            missing = await http.get("/connectors/Nope")
            style = await http.get("/static/style.css")
            escape = await http.get("/static/../health.py")
            head = await http.head("/")
            attention = await http.get("/?show=attention")
    finally:
        await server.close()

    rows = rows_of(page.text)
    assert rows == {"Alpha": "drift", "Beta": "in-sync", HOSTILE_NAME: "orphan"}
    # The same connectors as /status: one source of truth.
    assert sorted(rows) == sorted(c["name"] for c in status["lastCycle"]["connectors"])
    assert "Changed in CXone" in page.text
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    assert rows_of(attention.text) == {"Alpha": "drift", HOSTILE_NAME: "orphan"}

    # User-controlled text is escaped, never markup.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert HOSTILE_NAME not in page.text
    assert hostile.status_code == 200
    assert '<h1 class="name">&lt;script&gt;alert(1)&lt;/script&gt;</h1>' in hostile.text
    assert "<script" not in hostile.text

    assert detail.status_code == 200
    assert "<code>description</code>" in detail.text
    assert "Created" in detail.text  # the audit log's record of cycle 1
    assert "cxrecon reconcile" in detail.text
    assert 'href="../static/style.css"' in detail.text
    assert beta.status_code == 200
    assert "Nothing: CXone matches git." in beta.text

    assert missing.status_code == 404
    assert "No connector named" in missing.text
    assert style.status_code == 200
    assert style.headers["content-type"] == "text/css; charset=utf-8"
    assert ":root" in style.text
    assert escape.status_code == 404
    assert head.status_code == 200
    assert head.content == b""
    for response in (page, detail, hostile, beta, missing):
        assert CANARY not in response.text
        assert "seeded-key-1" not in response.text


async def test_a_source_that_is_not_a_controller_gets_no_page() -> None:
    class Probe:
        def readiness(self) -> tuple[bool, str]:
            return True, "ready"

        def metrics(self) -> tuple[bytes, str]:
            return b"", "text/plain"

        def status_json(self) -> bytes:
            return b"{}"

    server = HealthServer(ListenAddress("127.0.0.1", 0), Probe())
    bound = await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bound.port}") as http:
            assert (await http.get("/")).status_code == 404
            assert (await http.get("/healthz")).text == "ok\n"
    finally:
        await server.close()


async def test_the_page_follows_cycles_it_was_not_asked_about(
    make_controller: ControllerFactory,
) -> None:
    controller = make_controller(dry_run=True)
    server = HealthServer(ListenAddress("127.0.0.1", 0), controller)
    await server.start()
    try:
        for _ in range(3):
            await controller.cycle()
        page = server._page
        assert page is not None
        for _ in range(100):  # the follower task runs between cycles
            if len(page.history) == 3:
                break
            await asyncio.sleep(0.05)
        assert [c.number for c in page.history] == [1, 2, 3]
        html = page.overview_html().decode()
        assert "Dry run" in html
        assert "Cycle durations, last 6 hours" in html
        assert "3 cycles: 3 succeeded, 0 partial, 0 failed" in html
    finally:
        await server.close()
