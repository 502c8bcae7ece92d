"""The emulator fixtures start, authenticate and serve a connector round trip."""

from __future__ import annotations

import httpx
import pytest

from reconciler.testing import InProcessEmulator, RunningEmulator


def test_real_port_round_trip(emulator: RunningEmulator) -> None:
    headers = emulator.control.auth_headers()
    with httpx.Client(base_url=emulator.base_url, headers=headers) as http:
        assert http.get("/crm/connectors").json()["totalRecords"] == 0


@pytest.mark.anyio
async def test_in_process_app_answers_without_a_token_with_401(
    emulator_app: InProcessEmulator,
) -> None:
    async with emulator_app.async_client() as http:
        response = await http.get("/crm/connectors")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
