"""One connector's change, step by step: create as DRAFT → PATCH fields → lifecycle transition.

Every PATCH carries If-Match with the ETag of the latest response. A 409/412 (or a 404) means
someone else moved the connector, and a write whose fate is unknown (a 500, a lost answer after
the client's retries) may or may not have landed: either way, re-read it, re-plan it from what
is there now (reconciler.apply.conflicts records what changed in the audit log), and go on — at most
`MAX_REPLANS` times per connector.

Every write is accounted for in the audit log (reconciler.apply.audit): its intent before it is
sent (no intent on disk, no write), its outcome after (`unknown` when the answer never came,
settled by the read-back that follows or by the next run: reconciler.apply.pending). A create
never takes over a same-named connector it cannot prove it made.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Final

import anyio

from reconciler.apply.conflicts import plan_one, replan_event, reread
from reconciler.apply.context import ExecContext
from reconciler.apply.idempotency import idempotency_key
from reconciler.apply.narrow import Narrowed, narrow
from reconciler.apply.results import ConnectorResult, Outcome
from reconciler.apply.sender import LandedUnread, Sender, Stopped, Write
from reconciler.apply.steps import (
    desired_of,
    field_paths,
    fold,
    patch_verb,
    pin_of,
    sections_of,
    step_labels,
)
from reconciler.apply.writes import (
    CREATE_SECTIONS,
    expectation,
    made_here,
    of_sections,
    taken_over,
)
from reconciler.cxone.errors import (
    Conflict,
    CxoneApiError,
    NotFound,
    RateLimited,
    ResponseTooLarge,
    ServerError,
    TransportError,
)
from reconciler.errors import CxreconError
from reconciler.model import (
    LABEL_APPLIED_DIGEST,
    LABEL_CREDENTIALS_FINGERPRINT,
    RemoteConnector,
)
from reconciler.plan.changes import (
    Action,
    ConnectorChange,
    RemotePin,
    Step,
    StepKind,
)
from reconciler.plan.essence import (
    NOT_PATCHED,
    create_body,
    essence_of,
    partly_applied_digest,
    patch_body,
    transition_body,
)

__all__ = ["MAX_REPLANS", "ConnectorRun"]


#: Re-plans after a conflict before a connector is given up for this run.
MAX_REPLANS: Final = 3

#: Someone else moved the connector: re-read and plan it again.
_MOVED: Final = (Conflict, NotFound)
#: The client's own retries are spent (or, for a 500, not allowed): whether the write landed
#: is unknown, so re-read and plan again rather than guess.
_UNSETTLED: Final = (ServerError, TransportError, RateLimited, ResponseTooLarge)


class _Replan(Exception):  # control flow inside this module; never escapes it
    def __init__(self, cause: CxoneApiError) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _TakenOver(Exception):  # a create met a same-named connector it did not make
    def __init__(self, found: RemoteConnector) -> None:
        super().__init__(found.id)
        self.found = found


def _moved(cause: CxoneApiError) -> bool:
    return isinstance(cause, _MOVED)


class ConnectorRun:
    """Executes one ConnectorChange, re-planning on conflicts."""

    def __init__(self, ctx: ExecContext, change: ConnectorChange) -> None:
        self.ctx = ctx
        self.planned = change
        self.replans = 0
        self.sender = Sender(ctx, self._write_details)
        #: The labels and id of this run's create: what proves a same-named connector ours.
        self._created_labels: dict[str, str] | None = None
        self._created_id: str | None = None
        self._landed_rereads = 0

    async def run(self) -> ConnectorResult:
        change = self.planned
        if change.action is Action.ERROR:
            return self._result(Outcome.FAILED, change.remote, "; ".join(change.problems))
        if change.action is Action.ORPHAN:
            why = f"managed by cxrecon but {change.orphan_note}"
            return self._result(Outcome.SKIPPED, change.remote, why)
        while True:
            try:
                pin = await self._execute(change)
            except _Replan as conflict:
                cause: CxoneApiError = conflict.cause
            except Stopped:
                return self._stopped(change.remote)
            except CxreconError as exc:
                return self._failed(exc, change.remote)
            else:
                return self._result(self._outcome(), pin)
            try:
                replanned = await self._replan_until_read(change, cause)
            except _TakenOver as taken:
                return self._result(Outcome.FAILED, None, taken_over(change.name, taken.found))
            if isinstance(replanned, ConnectorResult):
                return replanned
            change = replanned
            if change.action is Action.ERROR:
                return self._result(Outcome.FAILED, change.remote, "; ".join(change.problems))

    # --- one pass over the steps --------------------------------------------------

    async def _execute(self, change: ConnectorChange) -> RemotePin | None:
        pin = change.remote
        steps = fold(change.steps)
        desired = change.digest_essence
        written: set[str] = set()
        for index, step in enumerate(steps):
            last = index == len(steps) - 1
            written |= sections_of(step)
            labels = step_labels(self.ctx.project, desired, last)
            if not last and desired is not None and change.remote is not None:
                # Stopped after this write, the label tells what it applied (not drift).
                before = change.remote.essence
                labels[LABEL_APPLIED_DIGEST] = partly_applied_digest(desired, written, before)
            if step.kind is StepKind.CREATE:
                pin = await self._create(change, labels)
            elif pin is None:
                raise RuntimeError(f"{change.name}: a {step.kind} step needs the remote connector")
            elif step.kind is StepKind.PATCH:
                pin = await self._patch(change, step, pin, labels)
            else:
                pin = await self._transition(change, step, pin, labels)
        return pin

    async def _create(self, change: ConnectorChange, labels: dict[str, str]) -> RemotePin:
        desired, essence = desired_of(change)
        values, fingerprint = await self.ctx.credentials.for_write(desired)
        owned = {**labels, LABEL_CREDENTIALS_FINGERPRINT: fingerprint}
        body = create_body(essence, values, owned)
        key = idempotency_key(body, self.ctx.environment, change.name)
        fields = tuple(sorted(body))  # a create writes every top-level field
        self._created_labels = owned
        expect = expectation(of_sections(essence, CREATE_SECTIONS), owned)
        created = await self._send(
            Write(change.name, "create", fields, None, expect),
            lambda: self.ctx.client.create_connector(body, idempotency_key=key),
        )
        self._created_id = created.id
        return pin_of(created)

    async def _patch(
        self, change: ConnectorChange, step: Step, pin: RemotePin, labels: dict[str, str]
    ) -> RemotePin:
        desired_of(change)
        essence = change.write_essence
        assert essence is not None  # _require checked the desired state
        sections = step.sections
        owned = {k: v for k, v in labels.items() if pin.essence.owned_labels.get(k) != v}
        values: dict[str, str] | None = None
        if "authentication" in sections:
            assert change.desired is not None
            values, fingerprint = await self.ctx.credentials.for_write(change.desired)
            owned[LABEL_CREDENTIALS_FINGERPRINT] = fingerprint
        body = patch_body(
            pin.essence, essence, sections=sections, credentials=values, owned_labels=owned
        )
        if change.rename_from is not None and pin.spec.name != change.name:
            body["name"] = change.name  # `previousNames`: the rename rides on this PATCH
        if not body:
            return pin  # e.g. a label refresh whose labels are already there
        fields = field_paths(change, sections) + tuple(f"labels[{k}]" for k in sorted(owned))
        values = of_sections(essence, tuple(s for s in sections if s not in NOT_PATCHED))
        if "name" in body:
            fields = ("name", *fields)
            values["name"] = change.name
        return await self._send_patch(change, patch_verb(change), fields, pin, body, owned, values)

    async def _transition(
        self, change: ConnectorChange, step: Step, pin: RemotePin, labels: dict[str, str]
    ) -> RemotePin:
        if step.target is None:
            raise RuntimeError(f"{change.name}: a transition step without a target state")
        body = transition_body(step.target)
        if change.desired is None:
            # A pruned orphan: record what apply leaves behind (the connector, stopped) as
            # applied, so putting it back in git later plans as a git change, not as drift.
            left = essence_of(replace(pin.spec, lifecycle_status=step.target))
            labels = step_labels(self.ctx.project, left, last=True)
        owned = {k: v for k, v in labels.items() if pin.essence.owned_labels.get(k) != v}
        if owned:
            body["labels"] = owned
        verb = "activate" if step.target == "ACTIVE" else "deactivate"
        fields = ("lifecycleStatus", *(f"labels[{k}]" for k in sorted(body.get("labels", {}))))
        values = {"lifecycleStatus": step.target}
        return await self._send_patch(change, verb, fields, pin, body, owned, values)

    async def _send_patch(
        self,
        change: ConnectorChange,
        verb: str,
        fields: tuple[str, ...],
        pin: RemotePin,
        body: dict[str, Any],
        owned: dict[str, str],
        values: dict[str, Any],
    ) -> RemotePin:
        expect = expectation(values, owned)
        updated = await self._send(
            Write(change.name, verb, fields, pin, expect),
            lambda: self.ctx.client.patch_connector(pin.id, etag=pin.etag, body=body),
        )
        return pin_of(updated)

    async def _send(
        self, write: Write, call: Callable[[], Awaitable[RemoteConnector]]
    ) -> RemoteConnector:
        try:
            return await self.sender.send(write, call)
        except LandedUnread as unread:
            # Not a concurrent change: only the read-back it needs is a re-plan round.
            self._landed_rereads += 1
            raise _Replan(unread.cause) from unread
        except (*_MOVED, *_UNSETTLED) as exc:
            raise _Replan(exc) from exc

    # --- conflicts ------------------------------------------------------------------

    async def _replan_until_read(
        self, change: ConnectorChange, cause: CxoneApiError
    ) -> ConnectorChange | ConnectorResult:
        """Re-read and re-plan after `cause`; a re-read that fails transiently costs a round.
        The connector's failed result once `MAX_REPLANS` rounds are spent."""
        while True:
            if self.replans >= MAX_REPLANS:
                why = (
                    f"changed in CXone {MAX_REPLANS + 1} times while being applied; run "
                    "apply again once the other writer is done"
                )
                return self._failed(
                    cause, change.remote, why if isinstance(cause, _MOVED) else None
                )
            self.replans += 1
            if isinstance(cause, _UNSETTLED):
                # The client's own backoff is spent: give the server a (jittered) moment.
                await anyio.sleep(random.uniform(0.0, 0.2 * 2**self.replans))
            try:
                return await self._replan(change, cause)
            except _UNSETTLED as exc:
                cause = exc
            except CxreconError as exc:
                return self._failed(exc, change.remote)

    async def _replan(self, change: ConnectorChange, cause: CxoneApiError) -> ConnectorChange:
        """Re-read the connector, record what others changed, plan it again from there, and
        keep only what the plan that was shown changes (apply.narrow)."""
        fresh = await reread(self.ctx.client, change)
        self.sender.settle(fresh)
        if change.action is Action.CREATE and fresh is not None and not self._ours(fresh):
            if self.ctx.audit is not None:  # what the other writer set, as out-of-band values
                why = "created in CXone meanwhile"
                refused = replace(change, action=Action.ERROR, steps=(), problems=(why,))
                held = Narrowed(refused, conflicts=(why,))
                event = replan_event(self.planned, fresh, held, cause, self.replans, moved=True)
                self.ctx.audit.record(event)
            raise _TakenOver(fresh)
        replanned = await anyio.to_thread.run_sync(plan_one, self.ctx, change, fresh)
        narrowed = narrow(self.planned, fresh, replanned)
        if self.ctx.audit is not None:
            event = replan_event(
                self.planned, fresh, narrowed, cause, self.replans, moved=_moved(cause)
            )
            self.ctx.audit.record(event)
        return narrowed.change

    def _ours(self, fresh: RemoteConnector) -> bool:
        return made_here(fresh, self._created_id, self._created_labels, self.ctx.project)

    # --- results and audit ----------------------------------------------------------

    @property
    def writes(self) -> int:
        """Writes of this connector that landed in this run."""
        return self.sender.writes

    def _write_details(self) -> dict[str, str | int | None]:
        return {
            "plan": self.planned.action.value,
            "replan": self.replans,
            # `--take-ownership`: the write moved the connector to this project.
            "tookOwnershipFrom": self.planned.previous_owner,
        }

    def _outcome(self) -> Outcome:
        """Applied when this run wrote; in line when another writer had already done it
        (a conflict, then nothing left to write)."""
        if self.writes:
            return Outcome.APPLIED
        return Outcome.IN_LINE if self.replans else Outcome.UNCHANGED

    def _stopped(self, pin: RemotePin | None) -> ConnectorResult:
        if self.writes == 0:
            return self._result(Outcome.SKIPPED, pin, "not written: the run was interrupted")
        why = (
            f"interrupted after {self.writes} of its writes; run apply again to finish it "
            "(it sends only what is still missing)"
        )
        return self._result(Outcome.FAILED, pin, why)

    def _result(
        self, outcome: Outcome, pin: RemotePin | None, reason: str | None = None
    ) -> ConnectorResult:
        return ConnectorResult(
            name=self.planned.name,
            action=self.planned.action,
            outcome=outcome,
            connector_id=pin.id if pin else None,
            lifecycle=pin.lifecycle if pin else None,
            writes=self.writes,
            replans=self.replans - self._landed_rereads,
            reason=reason,
        )

    def _failed(
        self, exc: CxreconError, pin: RemotePin | None, reason: str | None = None
    ) -> ConnectorResult:
        return self._result(Outcome.FAILED, pin, reason or str(exc))
