"""Helpers for running the client against the real emulator: settings, fast seeding."""

from __future__ import annotations

from typing import Any

from reconciler.emulator.resource import build_row, digest_credentials, iso, new_connector_id
from reconciler.emulator.runtime import Runtime
from reconciler.emulator.validation import with_defaults

#: httpx.ASGITransport ignores the host; a loopback one satisfies the client's HTTPS rule.
IN_PROCESS_BASE = "http://127.0.0.1/api/v2"


def document(name: str, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": name,
        "connectorType": "CUSTOM",
        "endpointUrl": "https://crm.example.com/api",
        "authentication": {"type": "API_KEY", "credentials": {"apiKey": "key-" + name}},
        "mappings": [
            {"cxoneField": "contact.email", "crmField": "Email", "direction": "BIDIRECTIONAL"}
        ],
    }
    doc.update(changes)
    return doc


def seed(runtime: Runtime, count: int, prefix: str = "conn") -> None:
    """Put `count` connectors straight into the emulator's SQLite in one transaction."""
    now = iso(runtime.clock.now())
    with runtime.store.write() as tx:
        for i in range(count):
            connector_id = new_connector_id()
            doc = document(f"{prefix}-{i:05d}")
            stored = digest_credentials(
                connector_id, with_defaults(doc), doc["authentication"]["credentials"]
            )
            tx.insert_connector(build_row(connector_id, stored, 1, now, now))
