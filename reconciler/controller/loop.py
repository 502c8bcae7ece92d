"""The controller: a cycle every interval (and at once on SIGHUP), health and metrics served
meanwhile, and a graceful stop on SIGTERM/SIGINT that finishes the connectors in flight.

A cycle whose git pull failed ran on the last good commit: it is PARTIAL, not SUCCESS (in the
report, /status, the metrics and the exit code of `--once`), and once `max_pull_failures`
cycles in a row could not pull, /readyz fails until a pull succeeds again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import signal
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.apply.actor import detect_actor
from reconciler.apply.calltrace import TracingStats
from reconciler.config.durations import format_duration
from reconciler.controller import address
from reconciler.controller.backoff import BackoffPolicy, ConnectorBackoff
from reconciler.controller.cycle import CycleRunner, SettingsFor
from reconciler.controller.health import HealthServer, ListenAddress
from reconciler.controller.metrics import CONTENT_TYPE, ControllerMetrics
from reconciler.controller.notices import Notices
from reconciler.controller.report import (
    Clock,
    ControllerOptions,
    CycleReport,
    CycleResult,
    Decision,
)

if TYPE_CHECKING:
    from reconciler.controller.page.headers import HostAllowList

log = logging.getLogger("cxrecon.controller")


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class Controller:
    """Runs cycles until stopped; thread-unsafe, lives on one event loop."""

    def __init__(
        self,
        options: ControllerOptions,
        *,
        settings_for: SettingsFor,
        environ: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        backoff: BackoffPolicy | None = None,
        emulated: bool = False,
        process_metrics: bool = True,
        record_address_in: Path | None = None,
    ) -> None:
        self.options = options
        #: Where `.cxrecon/controller.json` tells `cxrecon status` the address (None: nowhere).
        self.record_address_in = record_address_in
        self.clock: Clock = clock or SystemClock()
        self.environ = dict(os.environ if environ is None else environ)
        # Feeds both /metrics and each write's audit record (HTTP status, attempts).
        self.stats = TracingStats()
        mode = "dry-run" if options.dry_run else ("self-heal" if options.self_heal else "apply")
        self.prometheus = ControllerMetrics(
            self.stats, environment=options.environment, mode=mode, process=process_metrics
        )
        self.backoff = ConnectorBackoff(backoff or BackoffPolicy(), self.clock.monotonic)
        self.runner = CycleRunner(
            options,
            settings_for=settings_for,
            environ=self.environ,
            clock=self.clock,
            backoff=self.backoff,
            stats=self.stats,
            actor=detect_actor(self.environ, options.repo),
            stopping=lambda: self._stopping,
            run_prefix=uuid.uuid4().hex[:12],
            emulated=emulated,
        )
        #: `notifications:` of what each cycle found (once per event, see notices.py).
        self.notices = Notices(options, environ=self.environ, count=self.prometheus.notified)
        self.cycles_started = 0
        self.cycles_finished = 0
        self.last: CycleReport | None = None
        #: Where the endpoints are served once run() has bound them (port 0 picks one).
        self.listening: ListenAddress | None = None
        self._last_ok: float | None = None  # monotonic time of the last non-failed cycle
        #: Cycles in a row whose git pull failed (0 after a good pull or without --pull).
        self.pull_failures = 0
        self._stopping = False
        self._wake = asyncio.Event()
        self._done = asyncio.Condition()

    # --- control ----------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stopping

    def trigger(self) -> None:
        """Start the next cycle now (SIGHUP); during a cycle, right after it."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the connectors in flight, start no new ones, then return from run()."""
        if not self._stopping:
            log.info("stopping: finishing the connectors in flight")
        self._stopping = True
        self._wake.set()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop)
        loop.add_signal_handler(signal.SIGINT, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self.trigger)

    def remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)

    # --- running ----------------------------------------------------------------------

    async def run(
        self,
        *,
        once: bool = False,
        listen: ListenAddress | None = None,
        hosts: HostAllowList | None = None,
    ) -> CycleReport | None:
        """Cycles until stop() (or one cycle with `once`); returns the last report. The
        endpoints, served at `listen`, answer the Host names `hosts` allows."""
        if self.runner.repo is not None:
            await self.runner.repo.check()
        server = HealthServer(listen, self, hosts) if listen is not None else None
        if server is not None:
            bound = self.listening = await server.start()
            names = "".join(f", {name}" for name in sorted(server.hosts.names))
            # The address ends the line: scripts (and tests) take the URL after " on ".
            log.info(
                "serving /healthz /readyz /metrics /status (Host: an IP address, localhost%s) "
                "on http://%s",
                names,
                bound,
            )
        recorded = None
        if server is not None and self.record_address_in is not None:
            recorded = address.record(
                self.record_address_in,
                address.url_of(bound.host, bound.port),
                repo=self.options.repo,
                environment=self.options.environment,
            )
        try:
            async with self.runner.keep_client():
                while not self._stopping:
                    started = self.clock.monotonic()
                    self._wake.clear()
                    await self.cycle()
                    if once or self._stopping:
                        break
                    delay = max(0.0, self.options.interval - (self.clock.monotonic() - started))
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):  # not wait_for (see gitrepo.py)
                            await self._wake.wait()
        finally:
            if recorded is not None:
                address.forget(recorded)
            if server is not None:
                await server.close()
        return self.last

    async def cycle(self) -> CycleReport:
        """One cycle, counted and published (metrics, readiness, waiters)."""
        self.cycles_started += 1
        self.prometheus.cycle_started()
        report = self._count_pull(await self.runner.run(self.cycles_started))
        self.cycles_finished += 1
        self.last = report
        if report.result is not CycleResult.FAILED:
            self._last_ok = self.clock.monotonic()
        self.prometheus.set_environment(self.runner.environment)
        self.prometheus.observe(report, backoff_count=self._backing_off())
        _log_report(report)
        async with self._done:
            self._done.notify_all()
        await self.notices.after_cycle(report, self.readiness(), self.runner.project)
        return report

    def _count_pull(self, report: CycleReport) -> CycleReport:
        """Count a failed pull, and make a cycle that otherwise succeeded PARTIAL: it applied
        the last good commit, not what the branch holds now."""
        if report.pull is None or report.pull.ok:
            self.pull_failures = 0
            return report
        self.pull_failures += 1
        if report.result is CycleResult.SUCCESS:
            return dataclasses.replace(report, result=CycleResult.PARTIAL)
        return report

    async def wait_for_cycle(self, number: int) -> CycleReport:
        """The report of cycle `number` or a later one, once it has finished."""
        async with self._done:
            await self._done.wait_for(lambda: self.cycles_finished >= number)
        assert self.last is not None
        return self.last

    # --- what the endpoints show ------------------------------------------------------

    def readiness(self) -> tuple[bool, str]:
        last = self.last
        if last is None:
            return False, "not ready: the first cycle has not finished yet"
        if last.result is CycleResult.FAILED:
            return False, f"not ready: cycle {last.number} failed: {last.error}"
        if last.pull is not None and self.pull_failures >= max(1, self.options.max_pull_failures):
            return False, (
                f"not ready: the git pull failed {self.pull_failures} cycles in a row "
                f"({last.pull.message}); cycle {last.number} used {_short(last.commit)}"
            )
        limit = self.options.ready_factor * self.options.interval
        age = self.clock.monotonic() - (self._last_ok or 0.0)
        if age > limit:
            return False, (
                f"not ready: no successful cycle for {format_duration(age)} "
                f"(limit {format_duration(limit)})"
            )
        return True, f"ready: cycle {last.number} {last.result.value}"

    def metrics(self) -> tuple[bytes, str]:
        return self.prometheus.render(), CONTENT_TYPE

    def status_json(self) -> bytes:
        ready, why = self.readiness()
        body: dict[str, Any] = {
            "ready": ready,
            "readiness": why,
            "environment": self.runner.environment,
            "cyclesStarted": self.cycles_started,
            "cyclesFinished": self.cycles_finished,
            "stopping": self._stopping,
            "pullFailures": self.pull_failures,
            "lastCycle": None if self.last is None else _report_json(self.last),
            "backoff": [
                {
                    "connector": name,
                    "failures": state.failures,
                    "retryInSeconds": round(self.backoff.remaining(state), 3),
                    "lastError": state.last_error,
                }
                for name, state in sorted(self.backoff.states().items())
            ],
        }
        return json.dumps(body, indent=2).encode() + b"\n"

    def _backing_off(self) -> int:
        return sum(1 for s in self.backoff.states().values() if self.backoff.remaining(s) > 0)


def _report_json(report: CycleReport) -> dict[str, Any]:
    return {
        "number": report.number,
        "started": report.started.isoformat(timespec="milliseconds"),
        "durationSeconds": round(report.duration, 3),
        "result": report.result.value,
        "commit": report.commit,
        "pull": None
        if report.pull is None
        else {
            "ok": report.pull.ok,
            "message": report.pull.message,
            "previous": report.pull.previous,
            "rewritten": report.pull.rewritten,
            "discarded": list(report.pull.discarded),
        },
        "error": report.error,
        "interrupted": report.interrupted,
        "drifted": report.drifted,
        "deleted": len(report.deleted),
        "writes": report.writes,
        "phaseSeconds": {p.value: round(s, 3) for p, s in report.phases.items()},
        "filesParsed": report.files_parsed,
        "connectors": [
            {
                "name": c.name,
                "action": c.action.value,
                "origin": None if c.origin is None else c.origin.value,
                "decision": c.decision.value,
                "outcome": None if c.result is None else c.result.outcome.value,
                "reason": c.reason,
                "fields": list(c.fields),
                "deletedInCxone": c.deleted,
            }
            for c in report.connectors
        ],
        "policyViolations": [v.as_json() for v in report.violations],
    }


def _short(commit: str | None) -> str:
    return commit[:12] if commit else "no commit"


def _log_report(report: CycleReport) -> None:
    level = logging.WARNING if report.result is not CycleResult.SUCCESS else logging.INFO
    log.log(level, "%s", report.summary())
    for c in report.deleted:
        log.warning(
            "%s: deleted in CXone; %s",
            c.name,
            "re-created" if c.written else (c.reason or "reported"),
        )
    for c in report.connectors:
        if c.decision is Decision.IN_SYNC:
            continue
        what = c.action.value + (f" ({c.origin.value})" if c.origin else "")
        fields = f" [{', '.join(c.fields[:8])}{', …' if len(c.fields) > 8 else ''}]"
        outcome = c.result.outcome.value if c.result is not None else c.decision.value
        outcome = "already in line (by another writer)" if outcome == "in_line" else outcome
        detail = f": {c.reason}" if c.reason else ""
        log.log(level, "  %s: %s %s%s%s", c.name, what, outcome, fields if c.fields else "", detail)
