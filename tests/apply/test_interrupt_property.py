"""A property of the write-ahead audit log: whenever an apply is interrupted (Ctrl-C at any
request, before it reaches CXone or after CXone has answered), every connector changed in CXone
has an intent and an outcome in the log, and a re-run settles what was unknown (as CXone has
it), converges, and creates no duplicate."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.apply.actor import Actor
from reconciler.apply.audit import AuditLog
from reconciler.config.settings import ConnectionSettings
from reconciler.cxone.client import CxoneClient
from reconciler.cxone.retry import RetryPolicy
from reconciler.emulator.app import create_app
from reconciler.emulator.config import EmulatorConfig
from reconciler.facade import (
    ApplyOptions,
    apply_desired,
    load_desired,
    open_project,
    secrets_for,
)
from reconciler.testing import InProcessEmulator

from .helpers import CANARY_ENV, CANARY_KEY, connector_doc

NAMES = ("P-1", "P-2", "P-3", "P-4")
ENVIRON = {CANARY_ENV: CANARY_KEY}


class CtrlC(httpx.AsyncBaseTransport):
    """The network, with a Ctrl-C at the `at`-th request: before it is sent, or after its
    answer came (the write landed, its answer is lost)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, at: int, after: bool) -> None:
        self.inner, self.at, self.after = inner, at, after
        self.count = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        if self.count == self.at and not self.after:
            raise KeyboardInterrupt
        response = await self.inner.handle_async_request(request)
        if self.count == self.at:
            await response.aread()
            raise KeyboardInterrupt
        return response


async def _apply(root: Path, transport: httpx.AsyncBaseTransport) -> None:
    project = open_project(root)
    # httpx.ASGITransport ignores the host; a loopback one satisfies the HTTPS rule.
    settings = ConnectionSettings.for_emulator("http://127.0.0.1/api/v2")
    retry = RetryPolicy(base=0.001, cap=0.002)
    with AuditLog(root / ".cxrecon" / "audit.jsonl", actor=Actor("p"), environment=None) as log:
        async with CxoneClient(settings, transport=transport, retry=retry) as client:
            await apply_desired(
                project,
                client,
                load_desired(project),
                secrets=secrets_for(project, environ=ENVIRON, audit=log),
                audit=log,
                options=ApplyOptions(parallelism=2),
            )


def _tenant(emulator: InProcessEmulator) -> list[dict[str, Any]]:
    async def listed() -> list[dict[str, Any]]:
        async with emulator.async_client() as http:
            token = await http.post(
                "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": "demo-client",
                    "client_secret": "demo-secret",
                },
            )
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            page = await http.get("/crm/connectors", params={"top": 100}, headers=headers)
            items: list[dict[str, Any]] = page.json()["items"]
            return items

    return asyncio.run(listed())


def _records(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    text = log.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def _assert_accounted_for(records: list[dict[str, Any]], tenant: list[dict[str, Any]]) -> None:
    intents = {r["writeId"]: r for r in records if r.get("event") == "intent"}
    answered = {r["writeId"] for r in records if r.get("event") in ("outcome", "resolution")}
    assert set(intents) <= answered, "an intent without an outcome"
    created = {r["connector"] for r in intents.values() if r["action"] == "create"}
    activated = {r["connector"] for r in intents.values() if r["action"] == "activate"}
    for connector in tenant:
        assert connector["name"] in created, connector["name"]
        if connector["lifecycleStatus"] == "ACTIVE":
            assert connector["name"] in activated, connector["name"]


@pytest.mark.timeout(120)
@settings(max_examples=28, derandomize=True, database=None, deadline=None)
@given(at=st.integers(min_value=1, max_value=14), after=st.booleans())
def test_after_an_interruption_at_any_request_every_change_is_accounted_for(
    at: int, after: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "connectors").mkdir()
        for name in NAMES:
            text = yaml.safe_dump(connector_doc(name), sort_keys=False)
            (root / "connectors" / f"{name.lower()}.yaml").write_text(text, encoding="utf-8")
        config = EmulatorConfig().with_db(root / "emulator.sqlite")
        emulator = InProcessEmulator(create_app(config), config)
        log = root / ".cxrecon" / "audit.jsonl"
        try:
            interrupted = CtrlC(emulator.transport(), at, after)
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(_apply(root, interrupted))
            tenant = _tenant(emulator)
            _assert_accounted_for(_records(log), tenant)
            there = {c["name"] for c in tenant}

            asyncio.run(_apply(root, emulator.transport()))

            records = _records(log)
            after_rerun = _tenant(emulator)
            assert sorted(c["name"] for c in after_rerun) == list(NAMES)  # each once
            assert {c["lifecycleStatus"] for c in after_rerun} == {"ACTIVE"}
            _assert_accounted_for(records, after_rerun)
            unknown = [
                r for r in records if r.get("event") == "outcome" and r["result"] == "unknown"
            ]
            settled = {r["writeId"]: r for r in records if r.get("event") == "resolution"}
            for write in unknown:
                resolution = settled[write["writeId"]]
                if write["action"] == "create":
                    # Read back as CXone had it after the interruption.
                    expected = "success" if write["connector"] in there else "failure"
                    assert resolution["result"] == expected, (write, resolution)
        finally:
            emulator.close()
