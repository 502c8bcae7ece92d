"""Product bugs the convergence work ran into, each pinned as a minimal strict xfail: when
one starts passing the bug is fixed; remove its mark (and the machine's allowance for it,
see `ConvergenceMachine.partial`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from reconciler.apply.executor import Outcome
from reconciler.config.settings import ConnectionSettings
from reconciler.cxone.client import CxoneClient
from reconciler.cxone.retry import RetryPolicy
from reconciler.facade import (
    ApplyHooks,
    apply_desired,
    check_drift,
    load_desired,
    open_project,
    secrets_for,
)
from reconciler.gitops.drift import DriftReport
from reconciler.plan.changes import ConnectorChange, Origin, Plan

from .machine import Harness
from .support import base_doc, secret_variable

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


@pytest.mark.xfail(
    strict=True,
    reason=(
        "a partly applied commit reads as drift once git reverts it: the field PATCH lands "
        "(labels: managed-by only), the lifecycle PATCH fails, so the applied-digest still "
        "describes the commit before; after the revert, git matches that digest and CXone "
        "does not, so `drift` blames CXone for cxrecon's own write and a controller without "
        "--self-heal never puts git's value back"
    ),
)
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
