"""The status page's HTTP side: routes (`/`, `/connectors/NAME`, `/static/FILE`), the Jinja2
environment (autoescape on: names, descriptions and messages are user-controlled), and the
background task that follows the controller's cycles (history, sync windows, repository links).

Served by reconciler.controller.health next to /status, from the same Controller object: the
page never plans, never calls CXone and has no state of its own beyond the cycle history.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import importlib.resources
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable
from urllib.parse import parse_qs, unquote

from reconciler.config.windows import SyncWindow
from reconciler.controller.backoff import ConnectorBackoff
from reconciler.controller.page import overview as overview_page
from reconciler.controller.page.audit_view import AuditReader
from reconciler.controller.page.context import Backoff, Context, environment_name
from reconciler.controller.page.cycles import CycleHistory
from reconciler.controller.page.detail import build_detail
from reconciler.controller.page.repolink import RepoInfo, repo_info
from reconciler.controller.page.times import moment
from reconciler.controller.report import Clock, ControllerOptions, CycleReport
from reconciler.errors import CxreconError
from reconciler.facade import open_project

if TYPE_CHECKING:
    import jinja2

log = logging.getLogger("cxrecon.controller")

HTML: Final = "text/html; charset=utf-8"
#: Files under /static/ and their content types; nothing else is served from there.
STATIC: Final = {
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
#: Pages rendered at the same time; the machine has two cores and the controller comes first.
RENDERS: Final = 2
#: `?refresh=N` (seconds) turns on a meta refresh, for a wall display; off by default.
REFRESH_RANGE: Final = (10, 3600)
Response = tuple[int, bytes, str]


@runtime_checkable
class PageSource(Protocol):
    """What the page reads (the Controller): its options, last report and readiness."""

    options: ControllerOptions
    last: CycleReport | None
    clock: Clock
    backoff: ConnectorBackoff
    pull_failures: int
    cycles_started: int

    @property
    def stopping(self) -> bool: ...

    def readiness(self) -> tuple[bool, str]: ...

    async def wait_for_cycle(self, number: int) -> CycleReport: ...


@dataclass(frozen=True)
class Snapshot:
    """What a page is rendered from, copied on the event loop."""

    last: CycleReport | None
    history: CycleHistory
    ready: bool
    readiness: str
    now: dt.datetime
    backoff: tuple[Backoff, ...]
    pull_failures: int
    cycles_started: int
    stopping: bool
    project: ProjectFacts
    repo: RepoInfo


@dataclass(frozen=True, slots=True)
class ProjectFacts:
    """What the page reads from cxrecon.yaml: the environment's name, its sync windows and
    where the connector files live (read again when the commit changes)."""

    environment: str | None
    windows: tuple[SyncWindow, ...] = ()
    connectors_dir: Path | None = None
    problem: str | None = None


def read_project(options: ControllerOptions) -> ProjectFacts:
    try:
        project = open_project(options.repo)
        return ProjectFacts(
            environment=project.environment_label(options.environment),
            windows=project.sync_windows,
            connectors_dir=project.connectors_path,
        )
    except CxreconError as exc:
        return ProjectFacts(options.environment, problem=f"cannot read cxrecon.yaml: {exc}")
    except OSError as exc:
        return ProjectFacts(options.environment, problem=f"cannot read cxrecon.yaml: {exc}")


class StatusPage:
    """The page of one controller; `start()` follows its cycles, `respond(target)` answers."""

    def __init__(self, source: PageSource) -> None:
        self.source = source
        self.history = CycleHistory()
        self.audit = AuditReader(source.options.audit_log)
        self.repo = RepoInfo()
        self.project = ProjectFacts(source.options.environment)
        self._project_key: object = None
        self._task: asyncio.Task[None] | None = None
        #: Pages rendered at once (each in a worker thread); more requests wait their turn.
        self._renders = asyncio.Semaphore(RENDERS)

    @classmethod
    def attach(cls, source: object) -> StatusPage | None:
        """A page for `source` when it is a controller (other sources get no page)."""
        return cls(source) if isinstance(source, PageSource) else None

    async def start(self) -> None:
        try:
            await self.refresh()
        except Exception:  # the page must never keep the controller from starting
            log.exception("status page: reading the repository failed")
        self._task = asyncio.create_task(self._follow(), name="cxrecon-status-page")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await stop_task(task)

    async def refresh(self) -> None:
        """Read the repository's links and cxrecon.yaml again if the commit changed."""
        last = self.source.last
        key = (last.commit if last is not None and last.commit else None, last is None)
        if key == self._project_key and self.project.problem is None:
            return
        self._project_key = key
        self.repo = await repo_info(self.source.options.repo)
        self.project = await asyncio.to_thread(read_project, self.source.options)

    async def _follow(self) -> None:
        while True:
            last = self.source.last
            report = await self.source.wait_for_cycle((last.number if last else 0) + 1)
            self.history.add(report)
            try:
                await self.refresh()
            except Exception:  # the page must never end the controller
                log.exception("status page: refreshing after cycle %d failed", report.number)

    # --- HTTP --------------------------------------------------------------------------

    async def respond(self, target: str) -> Response | None:
        """The answer for a GET of `target`, or None when the page does not serve it.

        Pages render in a worker thread (a long overview takes a while), from a snapshot of
        what the event loop owns, so probes and cycles never wait for them.
        """
        path = target.partition("?")[0]
        if path.startswith("/static/"):
            name = path.removeprefix("/static/")
            return (200, _static(name), STATIC[name]) if name in STATIC else None
        if path not in ("/", "/index.html") and not path.startswith("/connectors/"):
            return None
        snapshot = self.snapshot()
        try:
            async with self._renders:
                return await asyncio.to_thread(self.render, target, snapshot)
        except Exception:  # a bug in the page must not take the endpoints down
            log.exception("status page: cannot render %s", target[:200])
            return 500, b"the status page failed; see the controller's log\n", "text/plain"

    def render(self, target: str, snapshot: Snapshot | None = None) -> Response | None:
        """The page for `target` (any thread, given a snapshot taken on the event loop)."""
        path, _, query = target.partition("?")
        params = parse_qs(query, keep_blank_values=False)
        if path in ("/", "/index.html"):
            return 200, self.overview_html(params, snapshot), HTML
        if path.startswith("/connectors/"):
            name = unquote(path.removeprefix("/connectors/"), errors="replace")
            body = self.detail_html(name, params, snapshot)
            if body is None:
                return 404, self.not_found_html(name, snapshot), HTML
            return 200, body, HTML
        return None

    def snapshot(self) -> Snapshot:
        """Copies of what the event loop owns and changes (call it on the loop)."""
        source = self.source
        self.history.add(source.last)  # a cycle the follower has not seen yet
        ready, why = source.readiness()
        backoff = tuple(
            Backoff(name, state.failures, source.backoff.remaining(state), state.last_error)
            for name, state in source.backoff.states().items()
        )
        return Snapshot(
            last=source.last,
            history=self.history.copy(),
            ready=ready,
            readiness=why,
            now=source.clock.now(),
            backoff=backoff,
            pull_failures=source.pull_failures,
            cycles_started=source.cycles_started,
            stopping=source.stopping,
            project=self.project,
            repo=self.repo,
        )

    def context(self, snapshot: Snapshot | None = None) -> Context:
        snap = snapshot or self.snapshot()
        project = snap.project
        return Context(
            options=self.source.options,
            environment=project.environment,
            last=snap.last,
            history=snap.history,
            audit=self.audit.view(project.environment),
            repo=snap.repo,
            now=snap.now,
            ready=snap.ready,
            readiness=snap.readiness,
            windows=project.windows,
            windows_problem=project.problem,
            connectors_dir=project.connectors_dir,
            backoff=snap.backoff,
            pull_failures=snap.pull_failures,
            cycles_started=snap.cycles_started,
            stopping=snap.stopping,
        )

    def overview_html(
        self, params: dict[str, list[str]] | None = None, snapshot: Snapshot | None = None
    ) -> bytes:
        params = params or {}
        show = (params.get("show") or [""])[0]
        page = overview_page.build_overview(
            self.context(snapshot),
            attention_only=show == "attention",
            limit=None if show == "all" else overview_page.ROWS,
        )
        return _render(
            "overview.html",
            page=page,
            environment=page.environment,
            generated=page.generated,
            attention_only=show == "attention",
            base="",
            refresh=_refresh(params),
        )

    def detail_html(
        self,
        name: str,
        params: dict[str, list[str]] | None = None,
        snapshot: Snapshot | None = None,
    ) -> bytes | None:
        page = build_detail(self.context(snapshot), name)
        if page is None:
            return None
        return _render(
            "connector.html",
            page=page,
            environment=page.environment,
            generated=page.generated,
            base="../",
            refresh=_refresh(params or {}),
        )

    def not_found_html(self, name: str, snapshot: Snapshot | None = None) -> bytes:
        ctx = self.context(snapshot)
        return _render(
            "not_found.html",
            name=name,
            environment=environment_name(ctx),
            generated=moment(ctx.now, ctx.now),
            cycled=ctx.last is not None,
            base="../",
            refresh=None,
        )


def _refresh(params: dict[str, list[str]]) -> int | None:
    values = params.get("refresh")
    if not values or not values[0].isdigit():
        return None
    low, high = REFRESH_RANGE
    return min(max(int(values[0]), low), high)


@functools.cache
def environment() -> jinja2.Environment:
    import jinja2  # imported on the first page view: the controller starts without it

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reconciler.controller.page", "templates"),
        autoescape=True,  # every template is HTML; every value is escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["plural"] = _plural
    return env


def _plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else (many or word + 's')}"


def _render(template: str, **values: Any) -> bytes:
    return environment().get_template(template).render(**values).encode("utf-8")


@functools.cache
def _static(name: str) -> bytes:
    return (importlib.resources.files("reconciler.controller.page") / "static" / name).read_bytes()


async def stop_task(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait until it has ended, cancelling again while it has not: on
    Python 3.11 a cancellation can be lost (asyncio.wait_for returns the inner result when
    it finishes at that moment), and a task that lost one waits for its next cycle forever.
    A cancellation of the caller itself is passed on, never swallowed."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    if not task.cancelled() and task.exception() is not None:
        log.error("status page task ended with an error", exc_info=task.exception())
