"""Handles on a running emulator for tests and benchmarks (the root conftest builds them).

`RunningEmulator` is a started server on a loopback port with admin/token helpers;
`InProcessEmulator` is the bare app for `httpx.ASGITransport`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
from starlette.applications import Starlette

from reconciler.emulator.app import runtime_of
from reconciler.emulator.config import EmulatorConfig
from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.embedded import EmbeddedEmulator
from reconciler.emulator.runtime import Runtime

IN_PROCESS_ROOT: Final = "http://emulator.test"


@dataclass
class RunningEmulator:
    """A started emulator on 127.0.0.1: URLs, its config, and admin/token helpers."""

    server: EmbeddedEmulator
    control: EmulatorControl

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT/api/v2 (CXONE_BASE_URL)."""
        return self.server.base_url

    @property
    def root_url(self) -> str:
        return self.server.root_url

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def config(self) -> EmulatorConfig:
        return self.server.config

    @property
    def db_path(self) -> Path:
        return self.server.config.db_path

    @property
    def runtime(self) -> Runtime:
        return self.server.runtime

    def stop(self) -> None:
        self.control.close()
        self.server.stop()


def start_emulator(db_path: Path, config: EmulatorConfig | None = None) -> RunningEmulator:
    server = EmbeddedEmulator(db_path, config)
    server.start()
    return RunningEmulator(server, EmulatorControl(server.root_url))


@dataclass
class InProcessEmulator:
    """The emulator app for `httpx.ASGITransport` (no sockets, no real timeouts)."""

    app: Starlette
    config: EmulatorConfig
    root_url: str = IN_PROCESS_ROOT

    @property
    def base_url(self) -> str:
        return self.root_url + "/api/v2"

    @property
    def runtime(self) -> Runtime:
        return runtime_of(self.app)

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self.app)

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport(), base_url=self.base_url)

    def close(self) -> None:
        self.runtime.close()


class ApiClient(httpx.Client):
    """An httpx client on an emulator's /api/v2 with a bearer token, plus shortcuts that
    assert the happy path (for tests that are about something else)."""

    def create(self, body: dict[str, Any]) -> httpx.Response:
        response = self.post("/crm/connectors", json=body)
        if response.status_code != 201:
            raise AssertionError(f"create answered {response.status_code}: {response.text}")
        return response

    def change(self, created: httpx.Response, patch: dict[str, Any]) -> httpx.Response:
        """PATCH the connector `created` (any response carrying it) with its own ETag."""
        response = self.patch(
            f"/crm/connectors/{created.json()['id']}",
            json=patch,
            headers={"If-Match": created.headers["ETag"]},
        )
        if response.status_code != 200:
            raise AssertionError(f"patch answered {response.status_code}: {response.text}")
        return response

    def activate(self, created: httpx.Response) -> httpx.Response:
        return self.change(created, {"lifecycleStatus": "ACTIVE"})


def api_client(running: RunningEmulator, scope: str | None = None) -> ApiClient:
    return ApiClient(
        base_url=running.base_url,
        headers=running.control.auth_headers(scope=scope),
        timeout=10.0,
    )
