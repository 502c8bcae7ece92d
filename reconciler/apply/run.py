"""Executing a plan: every connector's steps concurrently (bounded), secrets resolved only
for credentials being written, a result per connector; the report of the whole run.

The facade (reconciler.facade) plans, confirms and calls `execute_plan`; presentation is in
reconciler.render.apply.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from reconciler.apply.context import ExecContext
from reconciler.apply.datasync import SyncOutcome, SyncTarget
from reconciler.apply.executor import ConnectorRun
from reconciler.apply.pending import settle_pending
from reconciler.apply.results import ConnectorResult, Outcome
from reconciler.errors import SecretResolutionError
from reconciler.hashing import canonical_json, sha256_bytes
from reconciler.load.secret_lookup import SecretLookup
from reconciler.model import DesiredConnector
from reconciler.plan.changes import Action, ConnectorChange, Plan
from reconciler.plan.credentials import CredentialChecker, CredentialReason
from reconciler.plan.reviewed import Review

log = logging.getLogger("cxrecon.apply")


class CredentialResolver:
    """Credential values and their fingerprint label, for connectors whose credentials are
    about to be written — and only for those (the executor asks right before a body is built).

    Fingerprints cost one scrypt each (~15 ms). Connectors with identical credential
    references (and so identical values) written in one run share one label; that tells a
    reader of the labels no more than the repository's identical `${env:}` references do.
    """

    def __init__(self, lookup: SecretLookup, checker: CredentialChecker) -> None:
        self._lookup = lookup
        self._checker = checker
        self._labels: dict[bytes, str] = {}
        self._locks: dict[bytes, anyio.Lock] = {}
        # scrypt releases the GIL: use the cores, but don't let 40 threads hold 8 MiB each.
        self._cpu = anyio.CapacityLimiter(max(1, os.cpu_count() or 1))

    def resolve(self, desired: DesiredConnector) -> dict[str, str]:
        """Every credential value in plain form; SecretResolutionError names each reference
        that cannot be resolved (never a value) and where the connector is defined."""
        try:
            return self._lookup.resolve_all(desired.spec.authentication.credentials)
        except SecretResolutionError as exc:
            where = desired.location_of("authentication", "credentials")
            raise SecretResolutionError(f"{desired.name} ({where}): {exc}") from None

    async def for_write(self, desired: DesiredConnector) -> tuple[dict[str, str], str]:
        auth = desired.spec.authentication
        plain = self.resolve(desired)
        # The cache key is a hash: no plain value is kept beyond the body being built.
        digest = sha256_bytes(canonical_json([auth.type, dict(auth.credentials), plain]))
        lock = self._locks.setdefault(digest, anyio.Lock())
        async with lock:
            label = self._labels.get(digest)
            if label is None:
                label = await anyio.to_thread.run_sync(
                    self._checker.fingerprint,
                    auth.type,
                    auth.credentials,
                    plain,
                    limiter=self._cpu,
                )
                self._labels[digest] = label
        return plain, label


@dataclass(frozen=True)
class ApplyReport:
    """Per-connector results (in plan order) and the CRM data syncs that followed."""

    results: tuple[ConnectorResult, ...]
    syncs: tuple[SyncOutcome, ...] = ()

    def of(self, outcome: Outcome) -> tuple[ConnectorResult, ...]:
        return tuple(r for r in self.results if r.outcome is outcome)

    @property
    def ok(self) -> bool:
        return not self.of(Outcome.FAILED) and all(s.ok for s in self.syncs)

    @property
    def writes(self) -> int:
        return sum(r.writes for r in self.results)

    @property
    def warnings(self) -> tuple[ConnectorResult, ...]:
        return tuple(r for r in self.results if r.warning)

    def outcome_counts(self) -> dict[str, int]:
        return {o.value: len(self.of(o)) for o in Outcome}

    def sync_targets(self) -> tuple[SyncTarget, ...]:
        """Connectors created or changed by this run that are ACTIVE now."""
        return tuple(
            SyncTarget(r.name, r.connector_id)
            for r in self.results
            if r.changed and r.lifecycle == "ACTIVE" and r.connector_id is not None
        )


async def execute_plan(
    plan: Plan,
    ctx: ExecContext,
    *,
    parallelism: int,
    credentials: CredentialResolver | None = None,
    on_result: Callable[[ConnectorResult], None] | None = None,
    should_start: Callable[[], bool] | None = None,
) -> tuple[ConnectorResult, ...]:
    """Run every change; connectors go concurrently (at most `parallelism` at once), each
    one's steps in order. A failure is that connector's result, never the run's end.

    `should_start` is asked as each connector gets its turn: once it says no (the controller
    is stopping), no new connector starts and those in flight finish all their steps, so none
    is left half-applied. Connectors not started have no result. `ctx.should_write` is
    stricter (an interrupted apply): once it says no, no write starts, even mid-connector;
    connectors not started are skipped, "not written".

    First, writes earlier runs left with an unknown outcome are read back and recorded
    (reconciler.apply.pending).
    """
    await settle_pending(ctx)
    results: list[ConnectorResult | None] = [None] * len(plan.changes)
    limiter = anyio.CapacityLimiter(max(1, parallelism))

    async def one(index: int, run: ConnectorRun) -> None:
        async with limiter:
            if should_start is not None and not should_start():
                return
            if ctx.should_write is not None and not ctx.should_write():
                result = _not_started(run.planned)
            else:
                result = await _contained(run)
        results[index] = result
        if on_result is not None:
            on_result(result)

    async with anyio.create_task_group() as tg:
        for index, change in enumerate(plan.changes):
            if change.action is Action.NOOP:
                results[index] = unchanged(change, credentials)
                continue
            tg.start_soon(one, index, ConnectorRun(ctx, change))
    return tuple(r for r in results if r is not None)


async def _contained(run: ConnectorRun) -> ConnectorResult:
    """The connector's result; a bug on one connector fails it alone instead of cancelling
    the others part-way through their steps."""
    try:
        return await run.run()
    except Exception as exc:
        change = run.planned
        log.exception("%s: internal error while applying", change.name)
        return ConnectorResult(
            name=change.name,
            action=change.action,
            outcome=Outcome.FAILED,
            reason=f"internal error {type(exc).__name__}: {exc}; please report it",
        )


def _not_started(change: ConnectorChange) -> ConnectorResult:
    return ConnectorResult(
        name=change.name,
        action=change.action,
        outcome=Outcome.SKIPPED,
        connector_id=change.remote.id if change.remote else None,
        reason="not written: the run was interrupted",
    )


def unchanged(change: ConnectorChange, credentials: CredentialResolver | None) -> ConnectorResult:
    """A connector with nothing to write. If its credentials could not be compared because a
    secret is not available here, it is still unchanged (nothing is written, so nothing can
    go wrong), with a warning naming the reference to provide to verify them."""
    pin = change.remote
    warning = None
    check = change.credentials
    unverified = check is not None and check.reason is CredentialReason.SECRETS_UNAVAILABLE
    if unverified and credentials is not None and change.desired is not None:
        try:
            credentials.resolve(change.desired)
        except SecretResolutionError as exc:
            warning = f"credentials unverified: {exc}"
    return ConnectorResult(
        name=change.name,
        action=change.action,
        outcome=Outcome.UNCHANGED,
        connector_id=pin.id if pin else None,
        lifecycle=pin.lifecycle if pin else None,
        warning=warning,
    )


def held_results(verdict: Review) -> tuple[ConnectorResult, ...]:
    """A failed result per held change: nothing was written for it, and the reason says
    what to do."""
    return tuple(
        ConnectorResult(
            name=h.change.name,
            action=h.change.action,
            outcome=Outcome.FAILED,
            connector_id=h.change.remote.id if h.change.remote else None,
            reason=(
                f"{h.reason}; not applied. Review it (`cxrecon plan`, or a pull request), "
                "then apply again"
            ),
        )
        for h in verdict.held
    )
