"""Shared test inputs for the desired-state loading tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from reconciler.config.project import EnvironmentConfig

FIXTURES: Final = Path(__file__).parent.parent / "fixtures"
REPO: Final = Path(__file__).parent.parent.parent

#: The environment the fixture files are checked with (`${var:sf_instance}`).
ENVIRONMENT: Final = EnvironmentConfig(
    "test", vars={"sf_instance": "https://acme.my.salesforce.com"}
)

CANARY: Final = "canary-Zq8#not-a-real-secret"

#: A bad fixture's header: `# expect: LINE:COL SEVERITY RULE: message fragment`, one per finding.
EXPECT: Final = re.compile(
    rb"^# expect: (\d+):(\d+) (error|warning) ([a-z0-9-]+): (.+)$", re.MULTILINE
)


def expectations(path: Path) -> list[tuple[int, int, str, str, str]]:
    """(line, col, severity, rule, message fragment) for each `# expect:` line of `path`."""
    found = [
        (int(m[1]), int(m[2]), m[3].decode(), m[4].decode(), m[5].decode("utf-8"))
        for m in EXPECT.finditer(path.read_bytes())
    ]
    assert found, f"{path.name} has no `# expect:` header"
    return found


def connector_yaml(
    name: str = "Test-Connector",
    *,
    connector_type: str = "CUSTOM",
    endpoint: str = "https://crm.acme.example/api",
    extra: str = "",
) -> str:
    """A small valid connector document (CUSTOM, API_KEY), with `extra` lines appended."""
    identity = {"CUSTOM": "id", "SALESFORCE": "Id", "DYNAMICS": "contactid"}[connector_type]
    return (
        f"name: {name}\n"
        "lifecycleStatus: ACTIVE\n"
        f"connectorType: {connector_type}\n"
        f"endpointUrl: {endpoint}\n"
        "authentication:\n"
        "  type: API_KEY\n"
        "  credentials:\n"
        "    apiKey: ${env:CRM_API_KEY}\n"
        "mappings:\n"
        "  - cxoneField: contact.external_id\n"
        f"    crmField: {identity}\n"
        "    direction: INBOUND\n" + extra
    )
