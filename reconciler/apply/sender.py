"""One connector's writes to CXone, each accounted for in the audit log: none starts once the
run is being interrupted, none is sent unless its intent is on disk, each gets an outcome.

The executor (reconciler.apply.executor) decides what to write; this module sends it and keeps
the count of writes that landed, including those whose answer never came but which the
connector read back afterwards shows (`settle`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from reconciler.apply.audit_records import Expectation, Result, WriteIntent
from reconciler.apply.calltrace import CallTrace, traced
from reconciler.apply.context import ExecContext
from reconciler.apply.writes import (
    Sent,
    answer_lost,
    holds,
    landed,
    outcome_event,
    resolution_event,
)
from reconciler.cxone.errors import CxoneApiError
from reconciler.errors import CxreconError
from reconciler.model import RemoteConnector
from reconciler.plan.changes import RemotePin


class Stopped(Exception):
    """The run is being interrupted: this write was not started."""


class LandedUnread(Exception):
    """The write landed (a 2xx) but its answer could not be used: re-read the connector."""

    def __init__(self, cause: CxoneApiError) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass(frozen=True, slots=True)
class Write:
    """One write: its action verb, the fields it sets (for the record), the connector it
    patches (None: a create), and what it leaves behind once landed."""

    connector: str
    verb: str
    fields: tuple[str, ...]
    pin: RemotePin | None
    expect: Expectation


@dataclass(frozen=True, slots=True)
class _Unsettled:
    write: Write
    write_id: str | None


class Sender:
    """Sends one connector's writes; `writes` counts those that landed."""

    def __init__(self, ctx: ExecContext, details: Callable[[], Mapping[str, object]]) -> None:
        self.ctx = ctx
        self.writes = 0
        self._details = details
        self._unsettled: _Unsettled | None = None

    async def send(
        self, write: Write, call: Callable[[], Awaitable[RemoteConnector]]
    ) -> RemoteConnector:
        """The connector as the write's answer has it. Stopped when the run is being
        interrupted; the client's refusal when it would not send the write (unrecorded);
        AuditWriteError when the intent cannot be written (nothing sent);
        LandedUnread; or the client's error, its outcome recorded (`unknown` when the
        write may have landed: `settle` it with the connector read back)."""
        if self.ctx.should_write is not None and not self.ctx.should_write():
            raise Stopped
        if write.pin is not None:
            # A PATCH the client would refuse before sending (a weak ETag, one not read
            # back) is not a write: no intent, no outcome; the run's output says why.
            refused = self.ctx.client.refusal(write.pin.id, etag=write.pin.etag)
            if refused is not None:
                raise refused
        # Written here, not in a worker thread: a run cancelled meanwhile could not tell
        # whether the intent reached the disk, and leave it without an outcome.
        write_id = self._intent(write)
        with traced() as trace:
            try:
                answer = await call()
            except CxreconError as exc:
                if isinstance(exc, CxoneApiError) and landed(exc):
                    # A 2xx: the write is in CXone, only its answer was unusable. Never a
                    # failure: the connector is read back to go on from what it holds.
                    self.writes += 1
                    self._outcome(write, write_id, trace, None, exc, "success")
                    raise LandedUnread(exc) from exc
                lost = answer_lost(exc)
                self._outcome(write, write_id, trace, None, exc, "unknown" if lost else "failure")
                if lost:
                    self._unsettled = _Unsettled(write, write_id)
                raise
            except BaseException as exc:
                # Interrupted (a cancelled run, Ctrl-C): the request may have landed; the
                # next run reads the connector back (reconciler.apply.pending).
                self._outcome(write, write_id, trace, None, None, "unknown", type(exc).__name__)
                raise
        self.writes += 1
        self._outcome(write, write_id, trace, answer, None, "success")
        return answer

    def settle(self, fresh: RemoteConnector | None) -> None:
        """The write whose answer never came, judged by the connector read back: landed
        (counted) or not; the audit log records which."""
        unsettled, self._unsettled = self._unsettled, None
        if unsettled is None:
            return
        write = unsettled.write
        done = fresh is not None and holds(write.expect, fresh)
        if done:
            self.writes += 1
        if self.ctx.audit is not None:
            event = resolution_event(write.connector, write.verb, unsettled.write_id, fresh, done)
            self.ctx.audit.record(event)

    def _intent(self, write: Write) -> str | None:
        if self.ctx.audit is None:
            return None
        pin = write.pin
        write_id = self.ctx.audit.intent(
            WriteIntent(
                connector=write.connector,
                action=write.verb,
                method="POST" if pin is None else "PATCH",
                fields=write.fields,
                connector_id=pin.id if pin else None,
                etag_before=pin.etag if pin else None,
                expect=write.expect,
            )
        )
        return write_id

    def _outcome(
        self,
        write: Write,
        write_id: str | None,
        trace: CallTrace,
        after: RemoteConnector | None,
        error: CxreconError | None,
        result: Result,
        interrupted: str | None = None,
    ) -> None:
        if self.ctx.audit is None:
            return
        pin = write.pin
        details = {str(k): v for k, v in self._details().items()}
        if interrupted is not None:
            details["interrupted"] = interrupted
        self.ctx.audit.record(
            outcome_event(
                Sent(write.connector, write.verb, write.fields, pin.id if pin else None, write_id),
                trace,
                "create_connector" if pin is None else "patch_connector",
                etag_before=pin.etag if pin else None,
                after=after,
                error=error,
                result=result,
                details=details,  # type: ignore[arg-type]
            )
        )
