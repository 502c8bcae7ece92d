"""The /_emulator admin writes refuse what a web page can send: a cross-site form or `fetch`
(non-JSON Content-Type, foreign Origin) and DNS rebinding (a foreign Host)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from reconciler.emulator.config import EmulatorConfig
from reconciler.testing import ApiClient, RunningEmulator

Body = Callable[..., dict[str, Any]]
Factory = Callable[..., RunningEmulator]


def connector_count(api: ApiClient) -> int:
    total: int = api.get("/crm/connectors").json()["totalRecords"]
    return total


def test_a_cross_site_text_plain_reset_is_refused_and_wipes_nothing(
    emulator: RunningEmulator, api: ApiClient, body: Body
) -> None:
    api.create(body())
    response = httpx.post(
        emulator.root_url + "/_emulator/reset",
        content=b'{"tokens": true}',
        headers={
            "Content-Type": "text/plain",
            "Origin": "http://evil.example",
            "Host": "evil.example",
        },
    )
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden_host"
    assert connector_count(api) == 1


def test_dns_rebinding_a_foreign_host_is_403_even_with_json(
    emulator: RunningEmulator, api: ApiClient, body: Body
) -> None:
    api.create(body())
    response = httpx.post(
        emulator.root_url + "/_emulator/reset",
        json={},
        headers={"Host": f"rebind.evil.example:{emulator.port}"},
    )
    assert response.status_code == 403
    assert "Host" in response.json()["message"]
    assert connector_count(api) == 1


@pytest.mark.parametrize("content", [b"", b"{}"])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_an_admin_write_without_json_content_type_is_415(
    emulator: RunningEmulator,
    api: ApiClient,
    body: Body,
    content_type: str | None,
    content: bytes,
) -> None:
    api.create(body())
    headers = {"Content-Type": content_type} if content_type else {}
    response = httpx.post(emulator.root_url + "/_emulator/reset", content=content, headers=headers)
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"
    assert connector_count(api) == 1


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1"])
def test_a_foreign_origin_is_403(
    emulator: RunningEmulator, api: ApiClient, body: Body, origin: str
) -> None:
    api.create(body())
    response = httpx.post(
        emulator.root_url + "/_emulator/reset", json={}, headers={"Origin": origin}
    )
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden_origin"
    assert connector_count(api) == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST."])
def test_loopback_hosts_and_a_matching_origin_are_accepted(
    emulator: RunningEmulator, api: ApiClient, body: Body, host: str
) -> None:
    api.create(body())
    authority = f"{host}:{emulator.port}"
    response = httpx.post(
        emulator.root_url + "/_emulator/reset",
        json={},
        headers={"Host": authority, "Origin": f"http://{authority.lower()}"},
    )
    assert response.status_code == 200
    assert connector_count(api) == 0


def test_the_configured_host_name_is_accepted(emulator_factory: Factory) -> None:
    running = emulator_factory(EmulatorConfig(admin_hosts=("emulator.internal",)))
    response = httpx.post(
        running.root_url + "/_emulator/clock",
        json={"advanceSeconds": 1},
        headers={"Host": f"emulator.internal:{running.port}"},
    )
    assert response.status_code == 200


def test_a_delete_with_a_form_content_type_is_415_and_a_bare_delete_works(
    emulator: RunningEmulator, api: ApiClient, body: Body
) -> None:
    cid = api.create(body()).json()["id"]
    url = f"{emulator.root_url}/_emulator/connectors/{cid}"
    assert httpx.delete(url, headers={"Content-Type": "text/plain"}).status_code == 415
    assert httpx.delete(url, headers={"Host": "evil.example"}).status_code == 403
    assert connector_count(api) == 1
    emulator.control.delete(cid)
    assert connector_count(api) == 0


def test_a_write_without_a_host_header_is_403(emulator: RunningEmulator) -> None:
    request = (
        b"POST /_emulator/reset HTTP/1.0\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    )
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]


def test_admin_reads_need_no_json_and_the_control_client_still_works(
    emulator: RunningEmulator, api: ApiClient, body: Body
) -> None:
    assert httpx.get(emulator.root_url + "/_emulator/stats").status_code == 200
    control = emulator.control
    seeded = control.seed(body(lifecycleStatus="ACTIVE"))
    control.edit(seeded["id"], {"description": "from the UI"})
    control.faults(latencyMs=0)
    control.advance_clock(5)
    control.delete(seeded["id"])
    control.reset()
    assert connector_count(api) == 0
