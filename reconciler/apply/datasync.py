"""CRM data syncs (the API's `/sync` endpoints): trigger, poll with full-jitter backoff, report.

Used by `cxrecon apply --sync` for created or changed ACTIVE connectors and by `cxrecon sync`;
progress is a redrawn line on a TTY and plain lines in CI; each sync is one audit record.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import anyio

from reconciler.apply.audit import AuditLog
from reconciler.apply.audit_records import AuditEvent, Result, WriteIntent
from reconciler.errors import CxreconError
from reconciler.model import SyncJob

#: States a poll can end in besides the API's own COMPLETED/FAILED.
TIMED_OUT: Final = "TIMED_OUT"
NOT_STARTED: Final = "NOT_STARTED"


class SyncApi(Protocol):
    """The two client calls a sync needs (CxoneClient provides them)."""

    async def start_sync(self, connector_id: str, sync_type: str) -> str: ...

    async def get_sync(self, connector_id: str, sync_id: str) -> SyncJob: ...


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How to poll a sync. The seed waits 2 s, 4 s, 8 s … capped at 30 s and gives up after 12
    polls even when the job is healthy; syncs mostly finish fast, so we look sooner (0.5 s base),
    never sleep longer than 15 s, and let the overall timeout — not a poll count — end the wait."""

    base_seconds: float = 0.5
    cap_seconds: float = 15.0
    max_attempts: int = 120
    timeout_seconds: float = 900.0

    def __post_init__(self) -> None:
        if self.base_seconds <= 0 or self.cap_seconds < self.base_seconds:
            raise ValueError("sync poll: need 0 < base_seconds <= cap_seconds")
        if self.max_attempts < 1 or self.timeout_seconds <= 0:
            raise ValueError("sync poll: max_attempts and timeout_seconds must be positive")

    def delays(self, rng: random.Random) -> Iterator[float]:
        """Full jitter (AWS architecture blog): uniform(0, min(cap, base·2ⁿ)) before poll n+1;
        spreads many concurrent pollers instead of moving them in lockstep."""
        for attempt in range(self.max_attempts - 1):
            yield rng.uniform(0.0, min(self.cap_seconds, self.base_seconds * 2.0**attempt))


@dataclass(frozen=True, slots=True)
class SyncTarget:
    name: str
    connector_id: str


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    """How one sync ended: COMPLETED, FAILED (with errorDetails), TIMED_OUT or NOT_STARTED."""

    target: SyncTarget
    status: str
    sync_id: str | None = None
    records_processed: int = 0
    error_details: str | None = None
    polls: int = 0
    elapsed_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "COMPLETED"

    def describe(self) -> str:
        where = f"{self.target.name} (sync {self.sync_id})" if self.sync_id else self.target.name
        if self.status == "COMPLETED":
            return (
                f"{where}: COMPLETED, {self.records_processed:,} records "
                f"in {self.elapsed_seconds:.1f}s"
            )
        if self.status == "FAILED":
            return f"{where}: FAILED: {self.error_details or 'no errorDetails given'}"
        if self.status == TIMED_OUT:
            return (
                f"{where}: still running after {self.polls} polls / {self.elapsed_seconds:.0f}s; "
                "raise --poll-timeout or check again with `cxrecon sync NAME --wait` later"
            )
        if self.status == NOT_STARTED:
            return f"{where}: not started: {self.error_details}"
        return f"{where}: {self.status}"


class SyncObserver(Protocol):
    """Told as each sync moves on (reconciler.render.progress.SyncProgress draws it)."""

    def started(self, target: SyncTarget, sync_id: str) -> None: ...

    def polled(self, target: SyncTarget, job: SyncJob) -> None: ...

    def finished(self, outcome: SyncOutcome) -> None: ...

    def close(self) -> None: ...


Sleep = Callable[[float], Awaitable[None]]


async def run_sync(
    client: SyncApi,
    target: SyncTarget,
    *,
    sync_type: str,
    policy: PollPolicy,
    wait: bool = True,
    progress: SyncObserver | None = None,
    audit: AuditLog | None = None,
    rng: random.Random | None = None,
    sleep: Sleep = anyio.sleep,
) -> SyncOutcome:
    """Trigger one sync and (with `wait`) poll it until it finishes or the policy gives up."""
    rng = rng or random.Random()
    started = time.monotonic()
    write_id: str | None = None
    try:
        # Starting a sync is a write: its intent is on disk before it is sent.
        write_id = _intent(audit, target, sync_type)
        sync_id = await client.start_sync(target.connector_id, sync_type)
    except CxreconError as exc:
        outcome = SyncOutcome(target=target, status=NOT_STARTED, error_details=str(exc))
        _audit(audit, outcome, sync_type, error=exc, write_id=write_id)
        if progress is not None:
            progress.finished(outcome)
        return outcome
    except BaseException:
        # Interrupted: the sync may have started; its record says so (result unknown).
        outcome = SyncOutcome(target=target, status="UNKNOWN", error_details="interrupted")
        _audit(audit, outcome, sync_type, write_id=write_id, unknown=True)
        raise
    if progress is not None:
        progress.started(target, sync_id)
    if not wait:
        outcome = SyncOutcome(target=target, status="PENDING", sync_id=sync_id)
        _audit(audit, outcome, sync_type, write_id=write_id)
        return outcome
    try:
        outcome = await _poll(client, target, sync_id, policy, progress, rng, sleep, started)
    except BaseException:
        # Interrupted while waiting: the sync started; what became of it is CXone's to say.
        outcome = SyncOutcome(target=target, status="PENDING", sync_id=sync_id)
        _audit(audit, outcome, sync_type, write_id=write_id)
        raise
    _audit(audit, outcome, sync_type, write_id=write_id)
    if progress is not None:
        progress.finished(outcome)
    return outcome


async def watch_sync(
    client: SyncApi,
    target: SyncTarget,
    sync_id: str,
    *,
    policy: PollPolicy,
    progress: SyncObserver | None = None,
    rng: random.Random | None = None,
    sleep: Sleep = anyio.sleep,
) -> SyncOutcome:
    """Poll a sync that is already running (started by `cxrecon sync --no-wait`, the CXone
    UI or another run) until it finishes or the policy gives up; starts nothing."""
    started = time.monotonic()
    if progress is not None:
        progress.started(target, sync_id)
    rng = rng or random.Random()
    outcome = await _poll(client, target, sync_id, policy, progress, rng, sleep, started)
    if progress is not None:
        progress.finished(outcome)
    return outcome


async def _poll(
    client: SyncApi,
    target: SyncTarget,
    sync_id: str,
    policy: PollPolicy,
    progress: SyncObserver | None,
    rng: random.Random,
    sleep: Sleep,
    started: float,
) -> SyncOutcome:
    deadline = started + policy.timeout_seconds
    delays = policy.delays(rng)
    polls = 0
    job: SyncJob | None = None
    while True:
        polls += 1
        try:
            job = await client.get_sync(target.connector_id, sync_id)
        except CxreconError as exc:
            # The client already retried transient faults; what is left will not heal by polling.
            return SyncOutcome(
                target=target,
                status="ERROR",
                sync_id=sync_id,
                error_details=f"polling failed: {exc}",
                polls=polls,
                elapsed_seconds=time.monotonic() - started,
            )
        if progress is not None:
            progress.polled(target, job)
        if job.finished:
            return SyncOutcome(
                target=target,
                status=job.status,
                sync_id=sync_id,
                records_processed=job.records_processed,
                error_details=job.error_details,
                polls=polls,
                elapsed_seconds=time.monotonic() - started,
            )
        delay = next(delays, None)
        remaining = deadline - time.monotonic()
        if delay is None or remaining <= 0:
            return SyncOutcome(
                target=target,
                status=TIMED_OUT,
                sync_id=sync_id,
                records_processed=job.records_processed,
                polls=polls,
                elapsed_seconds=time.monotonic() - started,
            )
        await sleep(min(delay, remaining))


async def run_syncs(
    client: SyncApi,
    targets: Sequence[SyncTarget],
    *,
    sync_type: str,
    policy: PollPolicy,
    wait: bool = True,
    parallelism: int = 8,
    progress: SyncObserver | None = None,
    audit: AuditLog | None = None,
    seed: int | None = None,
) -> tuple[SyncOutcome, ...]:
    """Run syncs concurrently (bounded); outcomes in the order of `targets`."""
    results: list[SyncOutcome | None] = [None] * len(targets)
    limiter = anyio.CapacityLimiter(max(1, parallelism))
    master = random.Random(seed)

    async def one(index: int, target: SyncTarget, rng: random.Random) -> None:
        async with limiter:
            results[index] = await run_sync(
                client,
                target,
                sync_type=sync_type,
                policy=policy,
                wait=wait,
                progress=progress,
                audit=audit,
                rng=rng,
            )

    try:
        async with anyio.create_task_group() as tg:
            for i, target in enumerate(targets):
                tg.start_soon(one, i, target, random.Random(master.random()))
    finally:
        if progress is not None:
            progress.close()
    return tuple(r for r in results if r is not None)


def _intent(audit: AuditLog | None, target: SyncTarget, sync_type: str) -> str | None:
    if audit is None:
        return None
    intent = WriteIntent(
        connector=target.name,
        action="sync",
        method="POST",
        fields=(f"sync:{sync_type}",),
        connector_id=target.connector_id,
    )
    return audit.intent(intent)


def _audit(
    audit: AuditLog | None,
    outcome: SyncOutcome,
    sync_type: str,
    error: CxreconError | None = None,
    *,
    write_id: str | None = None,
    unknown: bool = False,
) -> None:
    if audit is None:
        return
    failed = outcome.status not in ("COMPLETED", "PENDING")
    result: Result = "unknown" if unknown else "failure" if failed else "success"
    audit.record(
        AuditEvent(
            connector=outcome.target.name,
            connector_id=outcome.target.connector_id,
            action="sync",
            kind="sync",
            write_id=write_id,
            result=result,
            http_status=getattr(error, "status", None) if error is not None else 202,
            attempts=max(outcome.polls, 1),
            latency_ms=outcome.elapsed_seconds * 1000.0,
            error_class=(type(error).__name__ if error is not None else outcome.status)
            if failed
            else None,
            error_message=outcome.error_details if failed else None,
            details={
                "syncId": outcome.sync_id,
                "syncType": sync_type,
                "status": outcome.status,
                "recordsProcessed": outcome.records_processed,
                "polls": outcome.polls,
            },
        )
    )
