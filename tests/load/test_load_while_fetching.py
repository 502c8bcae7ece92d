"""`make_plan` loads the desired state while the tenant is fetched: the plan is the one a
load-then-fetch run makes, a desired state with errors wins over whatever the fetch did
(the fetch is cancelled, nothing left running or unretrieved), and a failed fetch of a
valid state is the run's error."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from reconciler.errors import ApiError, ConfigError
from reconciler.facade import PlanRun, load_desired, make_plan, open_project, secrets_for
from reconciler.load.cache import FileCache
from reconciler.model import RemoteConnector

from .inputs import connector_yaml


class Tenant:
    """A tenant whose listing waits until the test lets it answer (or fail)."""

    def __init__(self, *, error: Exception | None = None) -> None:
        self.error = error
        self.started = threading.Event()
        self.cancelled = False
        self.answer = asyncio.Event()

    async def list_connectors(self) -> list[RemoteConnector]:
        self.started.set()
        try:
            await self.answer.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.error is not None:
            raise self.error
        return []


def project_with(tmp_path: Path, **files: str) -> Path:
    (tmp_path / "cxrecon.yaml").write_text("project: demo\n", encoding="utf-8")
    folder = tmp_path / "connectors"
    folder.mkdir()
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


async def plan_of(root: Path, tenant: Tenant, *, answer: bool = True) -> PlanRun:
    project = open_project(root)
    if answer:
        tenant.answer.set()
    return await make_plan(
        project, tenant, secrets=secrets_for(project, environ={}), cache=FileCache.for_project(root)
    )


def test_the_plan_is_the_one_a_load_then_fetch_run_makes(tmp_path: Path) -> None:
    root = project_with(tmp_path, alpha=connector_yaml("Alpha"), beta=connector_yaml("Beta"))
    run = asyncio.run(plan_of(root, Tenant()))
    loaded = load_desired(open_project(root))
    assert [c.spec for c in run.loaded.connectors] == [c.spec for c in loaded.connectors]
    assert [(c.name, c.action.value) for c in run.plan.changes] == [
        ("Alpha", "create"),
        ("Beta", "create"),
    ]
    assert set(run.timings) == {"load", "fetch", "diff"}


def test_errors_in_the_desired_state_win_and_cancel_the_fetch(tmp_path: Path) -> None:
    broken = connector_yaml("Alpha").replace("lifecycleStatus: ACTIVE", "lifecycleStatus: [")
    root = project_with(tmp_path, alpha=broken)
    tenant = Tenant(error=ApiError("the tenant is down"))

    async def run() -> None:
        # The fetch never answers: only the load's error can end the run.
        with pytest.raises(ConfigError, match=r"alpha\.yaml"):
            await plan_of(root, tenant, answer=False)
        assert tenant.started.is_set()
        assert tenant.cancelled
        assert asyncio.all_tasks() == {asyncio.current_task()}

    asyncio.run(run())


def test_a_failed_fetch_of_a_valid_state_is_the_error(tmp_path: Path) -> None:
    root = project_with(tmp_path, alpha=connector_yaml("Alpha"))
    with pytest.raises(ApiError, match="the tenant is down"):
        asyncio.run(plan_of(root, Tenant(error=ApiError("the tenant is down"))))
