"""Body size limits hold while the body streams in: a chunked body (no Content-Length) bigger
than the limit is answered 413 long before it has all been sent, on every route."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from reconciler.emulator.config import EmulatorConfig
from reconciler.testing import RunningEmulator, api_client

Factory = Callable[..., RunningEmulator]
LIMIT = 64 * 1024
TOTAL = 256 * 1024 * 1024
CHUNK = 64 * 1024
#: What kernel socket buffers on both ends (a few MiB each on loopback) and the server's
#: read-ahead can absorb before the sender blocks; far less than TOTAL.
IN_FLIGHT_MAX = 48 * 1024 * 1024


@dataclass
class Chunked:
    """A chunked request body of `total` bytes that counts what the client managed to send."""

    total: int
    sent: int = 0

    def __iter__(self) -> Iterator[bytes]:
        block = b" " * CHUNK
        while self.sent < self.total:
            self.sent += CHUNK
            yield block


@pytest.fixture
def small(emulator_factory: Factory) -> RunningEmulator:
    return emulator_factory(EmulatorConfig(max_body_bytes=LIMIT))


def post_chunked(url: str, headers: dict[str, str], total: int = TOTAL) -> tuple[int, Chunked]:
    body = Chunked(total)
    response = httpx.post(url, content=body, headers=headers, timeout=60)
    return response.status_code, body


def test_a_chunked_create_over_the_limit_is_413_before_it_is_all_sent(
    small: RunningEmulator,
) -> None:
    headers = {**small.control.auth_headers(), "Content-Type": "application/json"}
    status, body = post_chunked(small.base_url + "/crm/connectors", headers)
    assert status == 413
    assert body.sent < IN_FLIGHT_MAX


def test_the_token_endpoint_has_a_small_limit_of_its_own(small: RunningEmulator) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, body = post_chunked(small.base_url + "/oauth/token", form)
    assert status == 413
    assert body.sent < IN_FLIGHT_MAX
    padding = "&pad=" + "x" * 17 * 1024  # over 16 KiB, under max_body_bytes
    response = httpx.post(
        small.base_url + "/oauth/token",
        content="grant_type=client_credentials&client_id=demo-client&client_secret=demo-secret"
        + padding,
        headers=form,
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "connectors"), ("POST", "faults"), ("POST", "reset"), ("POST", "clock")],
)
def test_admin_writes_stop_reading_at_the_limit(
    small: RunningEmulator, method: str, path: str
) -> None:
    status, body = post_chunked(
        f"{small.root_url}/_emulator/{path}", {"Content-Type": "application/json"}
    )
    assert status == 413
    assert body.sent < IN_FLIGHT_MAX


def test_an_admin_patch_stops_reading_at_the_limit(small: RunningEmulator) -> None:
    body = Chunked(TOTAL)
    response = httpx.patch(
        f"{small.root_url}/_emulator/connectors/conn_x",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 413
    assert body.sent < IN_FLIGHT_MAX


def test_a_declared_length_over_the_limit_is_413_without_reading(small: RunningEmulator) -> None:
    with api_client(small) as api:
        response = api.post(
            "/crm/connectors",
            content=b" " * (LIMIT + 1),
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_a_body_at_the_limit_is_read(small: RunningEmulator) -> None:
    with api_client(small) as api:
        response = api.post(
            "/crm/connectors",
            content=b"{}" + b" " * (LIMIT - 2),
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 400  # read and parsed: {} is not a connector
    assert response.json()["error"] == "validation_failed"
