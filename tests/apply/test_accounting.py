"""What an apply says it did is what it did: a write that landed is never a failure (an answer
without an ETag), "applied" counts this run's writes (a connector another writer brought in
line is "already in line"), and a create never takes over a connector someone else made."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import httpx

from reconciler.apply.actor import Actor
from reconciler.apply.audit import AuditLog
from reconciler.apply.results import Outcome
from reconciler.config.settings import ConnectionSettings
from reconciler.cxone.client import CxoneClient
from reconciler.facade import apply_desired, load_desired, open_project, secrets_for
from reconciler.facade.applying import ApplyRun
from reconciler.plan.changes import Plan
from reconciler.render.apply import render_report, result_line
from reconciler.testing import RunningEmulator

from .helpers import (
    Project,
    apply_with_hook,
    connection_env,
    connector_doc,
    remote_connectors,
    run_cli,
    write_count,
)


class NoETag(httpx.AsyncBaseTransport):
    """The network, as a server (or proxy) that answers writes without any ETag."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.stripped = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method not in ("POST", "PATCH") or "/crm/connectors" not in request.url.path:
            return response
        await response.aread()
        body = json.loads(response.content)
        body.pop("etag", None)
        headers = [(k, v) for k, v in response.headers.raw if k.lower() not in (b"etag",)]
        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        self.stripped += 1
        return httpx.Response(response.status_code, headers=headers, json=body)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _apply(project: Project, emulator: RunningEmulator, transport: Any) -> ApplyRun:
    proj = open_project(project.root)
    settings = ConnectionSettings.for_emulator(emulator.base_url)
    with AuditLog(project.audit_log, actor=Actor("tester"), environment=None) as audit:
        async with CxoneClient(settings, transport=transport) as client:
            return await apply_desired(
                proj,
                client,
                load_desired(proj),
                secrets=secrets_for(proj, audit=audit),
                audit=audit,
            )


def test_a_write_answered_without_an_etag_is_recorded_and_shown_as_a_success(
    project: Project, emulator: RunningEmulator
) -> None:
    project.write(connector_doc("Alpha"))
    transport = NoETag()

    run = asyncio.run(_apply(project, emulator, transport))

    assert transport.stripped >= 1
    (result,) = run.report.results
    assert result.outcome is Outcome.APPLIED, result.reason
    assert "failed" not in result_line(result)
    assert "0 failed" in render_report(run.report)
    writes = [r for r in project.audit_records() if r["action"] in ("create", "activate")]
    assert writes
    assert all(r["result"] == "success" for r in writes), writes
    (remote,) = remote_connectors(emulator.control)
    assert remote["lifecycleStatus"] == "ACTIVE"
    assert "No changes" in run_cli(["plan"]).output


def test_a_connector_another_apply_brought_in_line_is_not_counted_as_applied(
    project: Project, emulator: RunningEmulator
) -> None:
    names = ["A", "B", "C"]
    for name in names:
        project.write(connector_doc(name))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    for name in names:
        project.write(connector_doc(name, description=f"{name} changed"))
    env = {**os.environ, **connection_env(emulator.base_url)}

    def another_apply_wins(plan: Plan) -> None:
        other = subprocess.run(
            [sys.executable, "-m", "reconciler", "apply", "--auto-approve"],
            cwd=project.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert other.returncode == 0, other.stderr[-2000:]
        assert "3 applied" in other.stdout

    _, results = asyncio.run(apply_with_hook(project, emulator, another_apply_wins))

    assert {r.outcome for r in results} == {Outcome.IN_LINE}
    assert sum(r.writes for r in results) == 0
    from reconciler.apply.run import ApplyReport

    text = render_report(ApplyReport(results=results))
    assert text.startswith(
        "Apply finished: 0 applied, 3 already in line (by another writer), 0 failed"
    )
    assert "(0 writes)" in text
    assert all("already in line (by another writer)" in result_line(r) for r in results)


def test_a_create_never_takes_over_a_connector_made_in_the_ui_meanwhile(
    project: Project, emulator: RunningEmulator
) -> None:
    project.write(connector_doc("Race-One"))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0
    project.write(connector_doc("Race-Two"))
    ui = {
        **connector_doc("Race-Two", description="made in the UI", labels={"owner": "alice"}),
        "endpointUrl": "https://ui.crm.example/api",
        "authentication": {
            "type": "API_KEY",
            "credentials": {"apiKey": "ui-own-key-123", "headerName": "X-Ui-Key"},
        },
    }

    def someone_creates_it_in_the_ui(plan: Plan) -> None:
        emulator.control.seed(ui)

    writes = write_count(emulator.control)
    _, results = asyncio.run(apply_with_hook(project, emulator, someone_creates_it_in_the_ui))

    (result,) = [r for r in results if r.name == "Race-Two"]
    assert result.outcome is Outcome.FAILED
    assert result.reason is not None
    assert result.reason.startswith("created in CXone meanwhile (id ")
    assert "endpointUrl=https://ui.crm.example/api" in result.reason
    assert "owner: alice" in result.reason
    assert "ui-own-key-123" not in result.reason
    assert write_count(emulator.control) == writes + 1  # the refused POST, nothing after
    (theirs,) = [c for c in remote_connectors(emulator.control) if c["name"] == "Race-Two"]
    assert theirs["endpointUrl"] == "https://ui.crm.example/api"
    assert theirs["labels"] == {"owner": "alice"}
    assert theirs["description"] == "made in the UI"
    records = project.audit_records()
    assert not [r for r in records if r["action"] == "adopt"]
    conflict = [r for r in records if r["connector"] == "Race-Two" and r["action"] == "conflict"]
    assert conflict[-1]["details"]["resolution"].endswith("created in CXone meanwhile")
    found = {c["path"]: c["found"] for c in conflict[-1]["outOfBand"]}
    assert found["endpointUrl"] == "https://ui.crm.example/api"
