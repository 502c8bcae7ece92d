"""Fixtures for the emulator's own tests: an authenticated client on a real port and a
factory of valid connector bodies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from reconciler.testing import ApiClient, RunningEmulator, api_client

BodyFactory = Callable[..., dict[str, Any]]
CANARY = "canary-5f1e-secret"


def connector_body(name: str = "salesforce-prod", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "description": "Contact sync",
        "lifecycleStatus": "DRAFT",
        "connectorType": "SALESFORCE",
        "endpointUrl": "https://acme.my.salesforce.com/services/data/v54.0",
        "authentication": {
            "type": "OAUTH2",
            "credentials": {"clientId": "sf-client", "clientSecret": CANARY},
        },
        "mappings": [
            {"cxoneField": "contact.id", "crmField": "Id", "direction": "BIDIRECTIONAL"},
            {"cxoneField": "contact.email", "crmField": "Email", "direction": "OUTBOUND"},
        ],
        "version": "1.0.0",
        "labels": {"cxrecon.io/managed-by": "cxrecon"},
    }
    body.update(overrides)
    return body


@pytest.fixture
def body() -> BodyFactory:
    """`body(name=..., **field overrides)` → a valid POST body."""
    return connector_body


@pytest.fixture
def api(emulator: RunningEmulator) -> Iterator[ApiClient]:
    """An httpx client on the emulator's base URL with a read+write token."""
    with api_client(emulator) as client:
        yield client
