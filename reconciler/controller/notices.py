"""What the controller tells `notifications:` after each cycle: drift, deletions, failures and
policy violations once until they change or are resolved, what it applied, its readiness.

What was told is remembered per destination (reconciler.notify.memory), in memory and in the
state directory beside the audit log, so neither the next cycle nor a restart repeats it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from reconciler.config.project import Project
from reconciler.controller.report import ControllerOptions, CycleReport, CycleResult, Decision
from reconciler.errors import CxreconError
from reconciler.notify.events import (
    Event,
    EventKind,
    Where,
    about,
    applied_item,
    deleted_item,
    drift_item_of_changes,
    failed_item,
    not_ready_event,
    policy_items,
    recovered_event,
)
from reconciler.notify.memory import NoticeMemory, file_name
from reconciler.notify.send import MISSING_APPRISE, Notifier
from reconciler.plan.diff import Origin

log = logging.getLogger("cxrecon.controller")

_DRIFT: frozenset[Origin | None] = frozenset({Origin.DRIFT, Origin.CONFLICT})


class Notices:
    """Tells each cycle's news to the project's destinations; lives as long as the loop."""

    def __init__(
        self,
        options: ControllerOptions,
        *,
        environ: Mapping[str, str],
        count: Callable[[str, str], None] | None = None,
    ) -> None:
        self.options = options
        self.environ = environ
        self.count = count
        self._memory: NoticeMemory | None = None
        self._warned_missing = False

    @property
    def memory(self) -> NoticeMemory:
        """Read from the state directory on first use (only when something is configured)."""
        if self._memory is None:
            name = file_name(self.options.environment)
            path = self.options.audit_log.parent / name
            self._memory = NoticeMemory(path, root=self.options.state_root)
        return self._memory

    async def after_cycle(
        self, report: CycleReport, readiness: tuple[bool, str], project: Project | None
    ) -> None:
        """Send what this cycle found that was not told yet (bounded: notify.send); never
        raises: telling is not part of the cycle's result."""
        if project is None or not project.notifications:
            return
        try:
            await self._tell(report, readiness, project)
        except Exception:  # a bug here must not end the loop
            log.exception("notifications of cycle %d were not sent", report.number)

    async def _tell(
        self, report: CycleReport, readiness: tuple[bool, str], project: Project
    ) -> None:
        try:
            environment = project.environment_label(self.options.environment)
        except CxreconError:
            environment = self.options.environment
        where = Where.of(
            self.environ, environment=environment, commit=report.commit, project=project.name
        )
        events = self._events(report, readiness, where)
        notifier = Notifier(
            project.notifications,
            warn=self._warn,
            environ=self.environ,
            count=self.count,
            project=project.name,
        )
        memory = self.memory
        if events:
            await asyncio.to_thread(notifier.send, events, choose=memory.unsaid, sent=memory.said)
        memory.save()

    def _events(
        self, report: CycleReport, readiness: tuple[bool, str], where: Where
    ) -> list[Event]:
        memory, environment = self.memory, where.environment
        events: list[Event] = []
        if report.result is not CycleResult.FAILED:
            drifted = [
                drift_item_of_changes(c.name, [f for f in c.changes if f.origin in _DRIFT])
                for c in report.connectors
                if c.origin in _DRIFT and not c.deleted
            ]
            deleted = [deleted_item(c.name, c.applied_at) for c in report.deleted]
            failed = [
                failed_item(c.name, c.result.reason)
                for c in report.connectors
                if c.failed and c.result is not None
            ]
            applied = [
                applied_item(c.result, c.fields) for c in report.applied if c.result is not None
            ]
            # Backing off is still failing: told once, not again after each wait.
            failing = [i.name for i in failed] + [c.name for c in report.of(Decision.BACKOFF)]
            memory.settle(EventKind.DRIFT, environment, (i.name for i in drifted))
            memory.settle(EventKind.DELETED, environment, (i.name for i in deleted))
            memory.settle(EventKind.APPLY_FAILED, environment, failing)
            # Every violation of the last plan (the standing ones too), each told once
            # until its message changes or it is resolved.
            broken = policy_items(report.violations)
            memory.settle(EventKind.POLICY_VIOLATION, environment, (i.ident for i in broken))
            events += about(EventKind.DRIFT, drifted, where)
            events += about(EventKind.DELETED, deleted, where)
            events += about(EventKind.APPLIED, applied, where)
            events += about(EventKind.APPLY_FAILED, failed, where)
            events += about(EventKind.POLICY_VIOLATION, broken, where)
        ready, why = readiness
        if not ready:
            memory.not_ready = True
            events.append(not_ready_event(why.removeprefix("not ready: "), where))
        elif memory.not_ready:
            memory.not_ready = False
            memory.settle(EventKind.NOT_READY, environment, ())
            events.append(recovered_event(why.removeprefix("ready: "), where))
        return events

    def _warn(self, message: str) -> None:
        if MISSING_APPRISE in message:
            if self._warned_missing:
                return  # once per process, not once per cycle
            self._warned_missing = True
        log.warning("%s", message.removeprefix("warning: "))
