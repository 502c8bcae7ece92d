"""Product bugs the convergence machine ran into, each pinned first as a minimal strict xfail
and kept, now that it is fixed, as its regression test: a partly applied commit reverted in
git, a lost create that met a connector made in the UI, a create raced by the UI."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from reconciler.apply.actor import Actor
from reconciler.apply.audit import AuditLog
from reconciler.apply.results import Outcome
from reconciler.config.settings import ConnectionSettings
from reconciler.cxone.client import CxoneClient
from reconciler.cxone.retry import RetryPolicy
from reconciler.facade import (
    ApplyHooks,
    Approval,
    apply_desired,
    check_drift,
    connect,
    load_desired,
    make_plan,
    open_project,
    secrets_for,
)
from reconciler.gitops.drift import DriftReport
from reconciler.plan.changes import ConnectorChange, Plan
from reconciler.plan.diff import Origin

from .machine import Harness
from .support import audit_records, base_doc, ok_writes, secret_variable, successful_writes

ENVIRON = {secret_variable("Alpha"): "alpha-key-1"}


class NoLifecycleWrites(httpx.AsyncBaseTransport):
    """The network fails every PATCH that moves the lifecycle (connection refused, so the
    client retries, and apply re-reads and re-plans, until it gives up)."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH" and b"lifecycleStatus" in request.content:
            raise httpx.ConnectError("injected: no route for lifecycle changes")
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class Repo:
    """A project with one connector file (Alpha), applied to the test's emulator."""

    def __init__(self, root: Path, harness: Harness) -> None:
        self.root = root
        self.harness = harness
        (root / "connectors").mkdir(parents=True)

    def commit(self, doc: dict[str, Any]) -> None:
        text = yaml.safe_dump(doc, sort_keys=False)
        (self.root / "connectors" / "alpha.yaml").write_text(text, encoding="utf-8")

    def client(self, transport: httpx.AsyncBaseTransport | None = None) -> CxoneClient:
        settings = ConnectionSettings.for_emulator(self.harness.emulator.base_url)
        retry = RetryPolicy(base=0.01, cap=0.02)
        return CxoneClient(settings, retry=retry, transport=transport)

    def apply(
        self, transport: httpx.AsyncBaseTransport | None = None, *, self_heal: bool = True
    ) -> tuple[Plan, Outcome | None]:
        def from_git(plan: Plan) -> list[ConnectorChange]:
            return [c for c in plan.changes if c.origin in (None, Origin.PENDING)]

        async def go() -> tuple[Plan, Outcome | None]:
            project = open_project(self.root)
            hooks = ApplyHooks(select=None if self_heal else from_git)
            async with self.client(transport) as client:
                run = await apply_desired(
                    project,
                    client,
                    load_desired(project),
                    secrets=secrets_for(project, environ=ENVIRON),
                    hooks=hooks,
                )
            outcomes = [r.outcome for r in run.report.results]
            return run.plan, outcomes[0] if outcomes else None

        return asyncio.run(go())

    def drift(self) -> DriftReport:
        async def go() -> DriftReport:
            async with self.client() as client:
                report, _ = await check_drift(open_project(self.root), client)
            return report

        return asyncio.run(go())


@pytest.fixture
def repo(harness: Harness, tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo", harness)


def test_a_reverted_partly_applied_commit_is_pending_not_drift(repo: Repo) -> None:
    before = base_doc("Alpha", "INACTIVE")
    repo.commit(before)
    assert repo.apply()[1] is Outcome.APPLIED
    repo.commit({**before, "lifecycleStatus": "ACTIVE", "description": "new text"})
    assert repo.apply(NoLifecycleWrites())[1] is Outcome.FAILED  # description written only
    assert not repo.drift().connectors  # so far pending, as documented

    repo.commit(before)  # the commit is reverted in git

    report = repo.drift()
    assert not report.connectors, [(c.name, [f.path for f in c.fields]) for c in report.connectors]
    plan, outcome = repo.apply(self_heal=False)  # the controller without --self-heal
    assert outcome is Outcome.APPLIED, plan.changes


def test_a_lost_create_never_claims_a_connector_made_in_the_ui(
    repo: Repo, harness: Harness, tmp_path: Path
) -> None:
    doc = base_doc("Alpha", "ACTIVE")
    repo.commit(doc)
    control = harness.emulator.control

    def someone_creates_it_in_the_ui(plan: Plan, approval: Approval) -> None:
        made = {**doc, "lifecycleStatus": "DRAFT", "description": "made in the UI"}
        made["authentication"] = {"type": "API_KEY", "credentials": {"apiKey": "typed-in"}}
        control.seed(made)
        # ...and cxrecon's POST is answered 503 (nothing created by it).
        control.faults(next=[{"kind": "503", "method": "POST", "path": "/api/v2/crm/connectors"}])

    async def go() -> tuple[Outcome, Plan]:
        project = open_project(repo.root)
        secrets = secrets_for(project, environ=ENVIRON)
        with AuditLog(audit_path, actor=Actor("tester"), environment=None) as audit:
            async with repo.client() as client:
                run = await apply_desired(
                    project,
                    client,
                    load_desired(project),
                    secrets=secrets,
                    audit=audit,
                    hooks=ApplyHooks(confirm=someone_creates_it_in_the_ui),
                )
                after = await make_plan(project, client, secrets=secrets)
        (result,) = run.report.results
        return result.outcome, after.plan

    audit_path = tmp_path / "audit.jsonl"
    writes_before = ok_writes(control.stats())

    outcome, next_plan = asyncio.run(go())

    records = audit_records(audit_path)
    written = ok_writes(control.stats()) - writes_before  # 1: the lifecycle PATCH
    assert successful_writes(records) == written, [(r["action"], r["result"]) for r in records]
    if outcome is Outcome.APPLIED:
        assert not next_plan.has_changes, next_plan.changed()


def test_a_library_apply_audits_each_writes_http_status(repo: Repo, tmp_path: Path) -> None:
    repo.commit(base_doc("Alpha", "ACTIVE"))
    audit_path = tmp_path / "audit.jsonl"

    async def go() -> None:
        project = open_project(repo.root)
        settings = ConnectionSettings.for_emulator(repo.harness.emulator.base_url)
        with AuditLog(audit_path, actor=Actor("tester"), environment=None) as audit:
            async with connect(settings) as client:
                await apply_desired(
                    project,
                    client,
                    load_desired(project),
                    secrets=secrets_for(project, environ=ENVIRON),
                    audit=audit,
                )

    asyncio.run(go())

    writes = [(r["action"], r["httpStatus"]) for r in audit_records(audit_path)]
    assert writes == [("create", 201), ("activate", 200)]


def test_a_create_raced_by_the_ui_records_what_it_found_and_writes_nothing(
    repo: Repo, harness: Harness, tmp_path: Path
) -> None:
    doc = base_doc("Alpha", "ACTIVE")
    repo.commit(doc)

    def someone_creates_it_in_the_ui(plan: Plan, approval: Approval) -> None:
        made = {**doc, "lifecycleStatus": "DRAFT", "description": "made in the UI"}
        made["authentication"] = {"type": "API_KEY", "credentials": {"apiKey": "typed-in"}}
        harness.emulator.control.seed(made)

    audit_path = tmp_path / "audit.jsonl"

    async def go() -> None:
        project = open_project(repo.root)
        with AuditLog(audit_path, actor=Actor("tester"), environment=None) as audit:
            async with repo.client() as client:
                await apply_desired(
                    project,
                    client,
                    load_desired(project),
                    secrets=secrets_for(project, environ=ENVIRON),
                    audit=audit,
                    hooks=ApplyHooks(confirm=someone_creates_it_in_the_ui),
                )

    asyncio.run(go())

    records = audit_records(audit_path)
    # Never taken over (issue 22): nothing is written to the UI's connector, and the
    # conflict record holds every value the other writer set.
    assert not [r for r in records if r["action"] == "adopt"]
    (conflict,) = [r for r in records if r["action"] == "conflict"]
    assert "description" in [c["path"] for c in conflict["outOfBand"]]
    assert conflict["details"]["resolution"].endswith("created in CXone meanwhile")
