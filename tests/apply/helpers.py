"""Shared helpers for apply tests: a project directory, connector files, emulator figures."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result

from reconciler.apply.actor import Actor
from reconciler.apply.audit import AuditLog
from reconciler.apply.results import ConnectorResult
from reconciler.cli.main import cli
from reconciler.config.settings import ConnectionSettings
from reconciler.cxone.client import CxoneClient
from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.resource import digest_credential
from reconciler.facade import (
    ApplyHooks,
    ApplyOptions,
    apply_desired,
    load_desired,
    open_project,
    secrets_for,
)
from reconciler.plan.changes import Plan
from reconciler.testing import RunningEmulator

#: Canary secret values: they must reach the emulator and never any output.
CANARY_KEY = "canary-apikey-7f1c2e9a4b"
CANARY_ENV = "CXRECON_TEST_API_KEY"


def connector_doc(name: str, **overrides: Any) -> dict[str, Any]:
    """A valid CUSTOM / API_KEY connector whose apiKey comes from ${env:CXRECON_TEST_API_KEY}."""
    doc: dict[str, Any] = {
        "name": name,
        "description": f"{name} test connector",
        "lifecycleStatus": "ACTIVE",
        "connectorType": "CUSTOM",
        "endpointUrl": f"https://{name.lower()}.crm.example/api",
        "authentication": {
            "type": "API_KEY",
            "credentials": {"apiKey": "${env:" + CANARY_ENV + "}", "headerName": "X-Api-Key"},
        },
        "mappings": [
            {"cxoneField": "case.external_id", "crmField": "id", "direction": "INBOUND"},
            {
                "cxoneField": "case.subject",
                "crmField": "subject",
                "direction": "BIDIRECTIONAL",
                "transformation": "trim",
            },
            {"cxoneField": "contact.email", "crmField": "email", "direction": "OUTBOUND"},
        ],
        "version": "1.0.0",
        "labels": {"team": "tests"},
    }
    doc.update(overrides)
    return doc


@dataclass
class Project:
    """A project directory (no cxrecon.yaml: defaults) with a connectors/ folder."""

    root: Path

    @property
    def connectors(self) -> Path:
        return self.root / "connectors"

    @property
    def audit_log(self) -> Path:
        return self.root / ".cxrecon" / "audit.jsonl"

    def write(self, doc: Mapping[str, Any]) -> Path:
        self.connectors.mkdir(parents=True, exist_ok=True)
        path = self.connectors / f"{str(doc['name']).lower()}.yaml"
        path.write_text(yaml.safe_dump(dict(doc), sort_keys=False), encoding="utf-8")
        return path

    def remove(self, name: str) -> None:
        (self.connectors / f"{name.lower()}.yaml").unlink()

    def audit_records(self) -> list[dict[str, Any]]:
        """Every record but the intents written ahead of each write (see all_audit_records)."""
        return [r for r in self.all_audit_records() if r.get("event") != "intent"]

    def all_audit_records(self) -> list[dict[str, Any]]:
        if not self.audit_log.exists():
            return []
        lines = self.audit_log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]


def connection_env(base_url: str) -> dict[str, str]:
    return {
        "CXONE_BASE_URL": base_url,
        "CXONE_CLIENT_ID": "demo-client",
        "CXONE_CLIENT_SECRET": "demo-secret",
        CANARY_ENV: CANARY_KEY,
    }


def run_cli(args: list[str], env: Mapping[str, str] | None = None) -> Result:
    """Invoke `cxrecon` in-process; stdin is not a TTY (as in CI)."""
    runner = CliRunner()
    return runner.invoke(cli, args, env=dict(env or {}), catch_exceptions=False)


def write_count(control: EmulatorControl) -> int:
    """POSTs and PATCHes of connectors the emulator has answered (any status)."""
    requests: dict[str, dict[str, int]] = control.stats()["requests"]
    total = 0
    for route, by_status in requests.items():
        method, _, path = route.partition(" ")
        connector_route = path.startswith("/api/v2/crm/connectors") and "/sync" not in path
        if connector_route and method in ("POST", "PATCH"):
            total += sum(by_status.values())
    return total


def remote_connectors(control: EmulatorControl) -> list[dict[str, Any]]:
    """Every connector the emulator holds, as the API returns it."""
    headers = control.auth_headers()
    items: list[dict[str, Any]] = []
    skip = 0
    while True:
        response = control._http.get(
            "/api/v2/crm/connectors", params={"skip": skip, "top": 100}, headers=headers
        )
        response.raise_for_status()
        page = response.json()
        items.extend(page["items"])
        skip += 100
        if skip >= page["totalRecords"]:
            return items


def stored_credential_matches(db_path: Path, connector_id: str, key: str, value: str) -> bool:
    """Whether the emulator stored `value` as credential `key` (it keeps digests only)."""
    with sqlite3.connect(db_path) as conn:
        query = "SELECT document FROM connectors WHERE id = ?"
        row = conn.execute(query, (connector_id,)).fetchone()
    doc = json.loads(row[0])
    stored: str = doc["authentication"]["credentials"][key]
    return stored == digest_credential(connector_id, value)


def all_text_files(root: Path) -> Iterator[tuple[Path, str]]:
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in (".jsonl", ".json", ".prom", ".txt", ".yaml", ""):
            try:
                yield path, path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue


def environ_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}


async def apply_with_hook(
    project: Project,
    emulator: RunningEmulator,
    between: Callable[[Plan], None],
    *,
    parallelism: int = 4,
    should_start: Callable[[], bool] | None = None,
) -> tuple[Plan, tuple[ConnectorResult, ...]]:
    """Plan, run `between` (e.g. someone else's edit), then apply that plan with the
    facade's `apply_desired` (what `cxrecon apply` and the controller call): `between` runs
    where `cxrecon apply` would ask for confirmation."""
    proj = open_project(project.root)
    loaded = load_desired(proj)
    settings = ConnectionSettings.for_emulator(emulator.base_url)
    with AuditLog(project.audit_log, actor=Actor("tester"), environment=None) as audit:
        secrets = secrets_for(proj, audit=audit)
        async with CxoneClient(settings) as client:
            run = await apply_desired(
                proj,
                client,
                loaded,
                secrets=secrets,
                audit=audit,
                options=ApplyOptions(parallelism=parallelism),
                hooks=ApplyHooks(
                    confirm=lambda plan, _approval: between(plan), should_start=should_start
                ),
            )
            return run.plan, run.report.results
