"""For the status page's tests: a controller running `run(listen=…)` on its own event loop in a
thread, so blocking clients (a browser driver, click's runner) can talk to it meanwhile; and
hand-made reports, audit records and a stand-in controller for pages rendered without one."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.config.project import load_project
from reconciler.controller.backoff import BackoffPolicy, ConnectorBackoff
from reconciler.controller.health import ListenAddress
from reconciler.controller.loop import Controller
from reconciler.controller.page.app import ProjectFacts, StatusPage
from reconciler.controller.page.repolink import RepoInfo, web_of
from reconciler.controller.report import (
    ConnectorReport,
    ControllerOptions,
    CycleReport,
    CycleResult,
)
from reconciler.model import LABEL_MANAGED_BY, LABEL_PROJECT, MANAGED_BY_VALUE
from reconciler.plan.diff import FieldChange
from reconciler.testing import RunningEmulator

from .helpers import FakeClock

#: Wall time of the hand-made reports, and the commit they applied.
NOW = dt.datetime(2025, 6, 2, 12, 0, tzinfo=dt.UTC)
SHA = "0123456789abcdef0123456789abcdef01234567"
#: A connector name no connector file may have (the schema refuses it), so it can only come
#: from CXone: managed by cxrecon there and no longer in git, an orphan the page lists.
HOSTILE_NAME = "<script>alert(1)</script>"


class ControllerThread:
    """`controller.run(listen=127.0.0.1:0)` in a background thread; `stop()` ends it."""

    def __init__(self, controller: Controller, *, timeout: float = 30.0) -> None:
        self.controller = controller
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="controller", daemon=True)

    def __enter__(self) -> ControllerThread:
        self._thread.start()
        if not self._started.wait(self.timeout) or self.controller.listening is None:
            raise AssertionError(f"the controller did not start listening: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        bound = self.controller.listening
        assert bound is not None
        return f"http://127.0.0.1:{bound.port}"

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._run())
        except BaseException as exc:  # reported by __enter__ or stop()
            self._error = exc
        finally:
            self._started.set()
            # As asyncio.run does: end what is left (a browser's idle preconnection).
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    async def _run(self) -> None:
        task = asyncio.create_task(
            self.controller.run(listen=ListenAddress("127.0.0.1", 0)), name="controller"
        )
        # Controller.run offers no "listening" event: poll for the bound address.
        while self.controller.listening is None and not task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        self._started.set()
        await task

    def call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(self.timeout)

    def wait_for_cycle(self, number: int) -> CycleReport:
        report: CycleReport = self.call(self.controller.wait_for_cycle(number))
        return report

    def next_cycle(self) -> CycleReport:
        """The report of the first cycle to start after this call (triggered at once)."""
        number = self.controller.cycles_started + 1
        self.loop.call_soon_threadsafe(self.controller.trigger)
        report = self.wait_for_cycle(number)
        while report.number < number:  # pragma: no cover - wait_for_cycle returns a later one
            report = self.wait_for_cycle(number)
        return report

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.controller.stop)
            self._thread.join(self.timeout)
        if self._error is not None:
            raise self._error


def seed_orphan(
    emulator: RunningEmulator, checkout: Path, name: str = HOSTILE_NAME
) -> dict[str, Any]:
    """A connector the project at `checkout` manages in CXone that git does not declare (an
    orphan)."""
    project = load_project(checkout).project_id
    return emulator.control.seed(
        {
            "name": name,
            "description": f"{name} & <b>bold</b>",
            "connectorType": "CUSTOM",
            "endpointUrl": "https://crm.example/hostile",
            "lifecycleStatus": "ACTIVE",
            "authentication": {"type": "API_KEY", "credentials": {"apiKey": "seeded-key-1"}},
            "labels": {LABEL_MANAGED_BY: MANAGED_BY_VALUE, LABEL_PROJECT: project},
        }
    )


# --- hand-made reports and audit records -------------------------------------------


def record(
    connector: str,
    action: str,
    *,
    time: dt.datetime = NOW,
    result: str = "success",
    environment: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "v": 1,
        "time": time.isoformat(timespec="milliseconds"),
        "runId": "r-1",
        "command": "reconcile",
        "actor": {"user": "cxrecon", "ciActor": None, "gitCommit": SHA},
        "environment": environment,
        "connector": connector,
        "connectorId": "c-1",
        "action": action,
        "fields": ["description"],
        "httpStatus": 200,
        "attempts": 1,
        "latencyMs": 12.5,
        "result": result,
        "error": None,
        "outOfBand": [],
        "details": {},
        **extra,
    }


def write_log(path: Path, records: list[dict[str, Any]], junk: bool = False) -> None:
    lines = [json.dumps(r) for r in records]
    if junk:
        lines.insert(1, "{not json")
        lines.insert(2, json.dumps(["a list"]))
    path.write_text("\n".join(lines) + "\n")


def cycle(number: int, result: CycleResult, duration: float, **kw: Any) -> CycleReport:
    return CycleReport(
        number=number,
        started=NOW - dt.timedelta(minutes=60 - number),
        duration=duration,
        result=result,
        commit=SHA,
        **kw,
    )


@dataclass(frozen=True, slots=True)
class ReportWithFacts(ConnectorReport):
    """A ConnectorReport carrying the facts the page reads when the controller keeps them."""

    changes: tuple[FieldChange, ...] = ()
    lifecycle: str | None = None
    applied_at: str | None = None
    source: str | None = None
    description: str | None = None


@dataclass
class FakeSource:
    options: ControllerOptions
    last: CycleReport | None
    clock: FakeClock
    backoff: ConnectorBackoff
    pull_failures: int = 0
    cycles_started: int = 0
    stopping: bool = False
    reports: list[CycleReport] = field(default_factory=list)

    def readiness(self) -> tuple[bool, str]:
        return True, "ready: cycle 3 partial"

    async def wait_for_cycle(self, number: int) -> CycleReport:
        await asyncio.sleep(3600)
        raise AssertionError("not reached")


def make_page(tmp_path: Path, connectors: tuple[ConnectorReport, ...], **kw: Any) -> StatusPage:
    options = ControllerOptions(repo=tmp_path, audit_log=tmp_path / "audit.jsonl", interval=60)
    backoff = ConnectorBackoff(BackoffPolicy(base_seconds=60), lambda: 0.0)
    last = cycle(3, CycleResult.PARTIAL, 2.5, connectors=connectors)
    source = FakeSource(options, last, FakeClock(NOW), backoff, cycles_started=3, **kw)
    page = StatusPage.attach(source)
    assert page is not None
    page.history.add(cycle(1, CycleResult.SUCCESS, 1.0))
    page.history.add(cycle(2, CycleResult.FAILED, 0.2, error="API unreachable"))
    page.repo = RepoInfo(web_of("git@github.com:acme/connectors.git"), tmp_path)
    page.project = ProjectFacts(environment="production", connectors_dir=tmp_path / "connectors")
    return page
