"""The emulator's discovery document, `GET /.well-known/cxone-configuration` (issue 15): it
names the emulator as the request reached it, needs no token, echoes `tenantId`, is counted
in the stats, answers HEAD and refuses other methods like every route, and is described in
the OpenAPI document."""

from __future__ import annotations

from importlib.resources import files

import httpx
import jsonschema
import pytest
import yaml

from reconciler.testing import InProcessEmulator, RunningEmulator

WELL_KNOWN = "/.well-known/cxone-configuration"
OPENAPI = yaml.safe_load(files("reconciler.schemas").joinpath("cxone-api.openapi.yaml").read_text())


def test_the_document_names_the_emulator_on_its_real_port(emulator: RunningEmulator) -> None:
    response = httpx.get(emulator.root_url + WELL_KNOWN, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    document = response.json()
    assert document["api_endpoint"] == emulator.root_url
    assert document["api_endpoint"] + "/api/v2" == emulator.base_url
    assert document["token_endpoint"] == emulator.base_url + "/oauth/token"
    assert document["tenantId"] == "emulator"
    assert document["area"] == "local"


def test_the_document_follows_the_host_the_request_used(emulator: RunningEmulator) -> None:
    url = f"http://localhost:{emulator.port}{WELL_KNOWN}?tenantId=11eb-tenant"
    document = httpx.get(url, timeout=10).json()
    assert document["api_endpoint"] == f"http://localhost:{emulator.port}"
    assert document["token_endpoint"] == f"http://localhost:{emulator.port}/api/v2/oauth/token"
    assert document["tenantId"] == "11eb-tenant"


@pytest.mark.anyio
async def test_in_process_it_names_the_in_process_root(emulator_app: InProcessEmulator) -> None:
    async with emulator_app.async_client() as client:
        document = (await client.get(emulator_app.root_url + WELL_KNOWN)).json()
    assert document["api_endpoint"] == emulator_app.root_url


def test_it_needs_no_token_and_is_counted(emulator: RunningEmulator) -> None:
    for _ in range(3):
        assert httpx.get(emulator.root_url + WELL_KNOWN, timeout=10).status_code == 200
    requests = emulator.control.stats()["requests"]
    assert requests[f"GET {WELL_KNOWN}"] == {"200": 3}


def test_head_is_served_and_other_methods_are_405(emulator: RunningEmulator) -> None:
    head = httpx.head(emulator.root_url + WELL_KNOWN, timeout=10)
    assert head.status_code == 200
    refused = httpx.post(emulator.root_url + WELL_KNOWN, json={}, timeout=10)
    assert refused.status_code == 405
    assert refused.headers["Allow"] == "GET, HEAD"
    assert refused.json()["error"] == "method_not_allowed"


def test_the_openapi_document_describes_it(emulator: RunningEmulator) -> None:
    operation = OPENAPI["paths"][WELL_KNOWN]["get"]
    assert operation["operationId"] == "getCxoneConfiguration"
    assert operation["security"] == []
    assert OPENAPI["paths"][WELL_KNOWN]["servers"] == [{"url": "/"}]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/DiscoveryDocument"}
    document = httpx.get(emulator.root_url + WELL_KNOWN, timeout=10).json()
    jsonschema.validate(document, OPENAPI["components"]["schemas"]["DiscoveryDocument"])


@pytest.mark.parametrize("tenant", ["", "ünïcode", "a" * 300])
def test_any_tenant_id_gets_a_valid_document(emulator: RunningEmulator, tenant: str) -> None:
    response = httpx.get(emulator.root_url + WELL_KNOWN, params={"tenantId": tenant}, timeout=10)
    assert response.status_code == 200
    assert response.json()["tenantId"] == (tenant or "emulator")
