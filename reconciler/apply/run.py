"""`apply` as a library: plan against the tenant, run every connector's steps concurrently
(bounded), resolve secrets only for credentials being written, and report per connector.

The CLI (reconciler.cli.apply) adds confirmation, the audit log, syncs and metrics around it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import anyio

from reconciler.apply.audit import AuditLog
from reconciler.apply.datasync import SyncOutcome, SyncTarget
from reconciler.apply.executor import ConnectorResult, ConnectorRun, ExecContext, Outcome
from reconciler.errors import SecretResolutionError
from reconciler.load.desired import LoadResult
from reconciler.load.refs import is_secret_reference, resolve_secret
from reconciler.model import DesiredConnector, RemoteConnector
from reconciler.plan.build import build_plan
from reconciler.plan.changes import Action, ConnectorChange, Plan, SafetyLimitsLike
from reconciler.plan.credentials import CredentialChecker, CredentialReason
from reconciler.plan.essence import canonical_json
from reconciler.secret import Secret, is_secret_field

log = logging.getLogger("cxrecon.apply")

#: What a missing secret becomes against the emulator (never against a real tenant).
PLACEHOLDER_PREFIX: Final = "cxrecon-fake-placeholder-for-emulator"
_REFERENCE: Final = re.compile(r"^\$\{(env|file):(.+)\}$")


class SecretLookup:
    """Resolves `${env:}` / `${file:}` references for this run (a literal is itself).

    Every value resolved is registered with the audit log, which masks it wherever it might
    surface. Against the emulator, a reference that cannot be resolved becomes a clearly fake
    placeholder with one warning naming it, so a first try needs no secrets; against a real
    tenant it is an error naming the variable or file.
    """

    def __init__(
        self,
        environ: Mapping[str, str],
        base_dir: Path,
        *,
        emulated: bool,
        warn: Callable[[str], None],
        audit: AuditLog | None = None,
    ) -> None:
        self._environ = environ
        self._base_dir = base_dir
        self._emulated = emulated
        self._warn = warn
        self._audit = audit
        self._warned: set[str] = set()

    def __call__(self, value: str) -> str:
        if not is_secret_reference(value):
            return value
        try:
            secret = resolve_secret(value, self._environ, self._base_dir)
        except SecretResolutionError:
            if not self._emulated:
                raise
            match = _REFERENCE.match(value)
            what = f"{match.group(1)}:{match.group(2)}" if match else "reference"
            if what not in self._warned:
                self._warned.add(what)
                kind = "environment variable" if what.startswith("env:") else "secret file"
                self._warn(
                    f"warning: {kind} {what.split(':', 1)[1]} is not available; using a fake "
                    "placeholder value because the target is the emulator"
                )
            secret = Secret(f"{PLACEHOLDER_PREFIX}:{what}")
        if self._audit is not None:
            self._audit.register_secret(secret)
        return secret.reveal()


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
        that cannot be resolved (never a value)."""
        plain: dict[str, str] = {}
        failures: list[str] = []
        for key, value in desired.spec.authentication.credentials.items():
            try:
                plain[key] = self._lookup(value)
            except SecretResolutionError as exc:
                failures.append(f"{key}: {exc}")
        if failures:
            where = desired.location_of("authentication", "credentials")
            raise SecretResolutionError(
                f"{desired.name} ({where}): cannot resolve credentials: " + "; ".join(failures)
            )
        return plain

    async def for_write(self, desired: DesiredConnector) -> tuple[dict[str, str], str]:
        auth = desired.spec.authentication
        plain = self.resolve(desired)
        # The cache key is a hash: no plain value is kept beyond the body being built.
        digest = hashlib.sha256(canonical_json([auth.type, dict(auth.credentials), plain])).digest()
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


def new_checker(lookup: SecretLookup) -> CredentialChecker:
    return CredentialChecker(lookup=lookup, is_secret_key=is_secret_field)


async def plan_against(
    loaded: LoadResult,
    remote: Sequence[RemoteConnector],
    *,
    limits: SafetyLimitsLike,
    checker: CredentialChecker,
    environment: str | None,
    prune: bool,
    complete: bool = True,
) -> Plan:
    """The plan apply executes (the planner runs in a thread: fingerprint checks are slow).

    `complete=False`: the desired state is one file of the repository (see plan_scope).
    """

    def build() -> Plan:
        return build_plan(
            loaded.connectors,
            remote,
            limits=limits,
            checker=checker,
            desired_digest=loaded.digest,
            prune=prune,
            environment=environment,
            complete=complete,
        )

    return await anyio.to_thread.run_sync(build)


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
    is left half-applied. Connectors not started have no result.
    """
    results: list[ConnectorResult | None] = [None] * len(plan.changes)
    limiter = anyio.CapacityLimiter(max(1, parallelism))

    async def one(index: int, run: ConnectorRun) -> None:
        async with limiter:
            if should_start is not None and not should_start():
                return
            result = await _contained(run)
        results[index] = result
        if on_result is not None:
            on_result(result)

    async with anyio.create_task_group() as tg:
        for index, change in enumerate(plan.changes):
            if change.action is Action.NOOP:
                results[index] = unchanged = _unchanged(change, credentials)
                if unchanged.outcome is Outcome.FAILED and on_result is not None:
                    on_result(unchanged)
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


def _unchanged(change: ConnectorChange, credentials: CredentialResolver | None) -> ConnectorResult:
    """A no-op, unless its credentials could not be compared because a secret is missing:
    then apply cannot vouch for them, and says which reference to provide."""
    pin = change.remote
    reason = None
    outcome = Outcome.UNCHANGED
    check = change.credentials
    unverified = check is not None and check.reason is CredentialReason.SECRETS_UNAVAILABLE
    if unverified and credentials is not None and change.desired is not None:
        try:
            credentials.resolve(change.desired)
        except SecretResolutionError as exc:
            outcome, reason = Outcome.FAILED, f"credentials cannot be verified: {exc}"
    return ConnectorResult(
        name=change.name,
        action=change.action,
        outcome=outcome,
        connector_id=pin.id if pin else None,
        lifecycle=pin.lifecycle if pin else None,
        reason=reason,
    )


def result_line(result: ConnectorResult) -> str:
    """One progress line as a connector finishes."""
    mark = {"applied": "+", "failed": "!", "skipped": "-", "unchanged": "="}[result.outcome]
    detail = _detail(result)
    return f"{mark} {result.name}: {result.outcome.value} ({result.action.value}){detail}"


def _detail(result: ConnectorResult) -> str:
    if result.outcome is Outcome.APPLIED:
        parts = [f"{result.writes} write{'s' if result.writes != 1 else ''}"]
        if result.lifecycle:
            parts.append(result.lifecycle)
        if result.replans:
            parts.append(f"re-planned {result.replans}x after concurrent changes")
        return ", " + ", ".join(parts)
    return f": {result.reason}" if result.reason else ""


def render_report(report: ApplyReport) -> str:
    """The end-of-run table: applied, failed (why) and skipped connectors, then syncs."""
    counts = report.outcome_counts()
    head = (
        f"Apply finished: {counts['applied']} applied, {counts['failed']} failed, "
        f"{counts['skipped']} skipped, {counts['unchanged']} unchanged "
        f"({report.writes} write{'' if report.writes == 1 else 's'})."
    )
    lines = [head]
    listed = [r for r in report.results if r.outcome is not Outcome.UNCHANGED]
    if listed:
        width = min(max(len(r.name) for r in listed), 48)
        lines.append("")
        lines.append(f"  {'RESULT':<8} {'CONNECTOR':<{width}} {'ACTION':<10} {'WRITES':>6}  DETAIL")
        order = {Outcome.FAILED: 0, Outcome.APPLIED: 1, Outcome.SKIPPED: 2}
        for r in sorted(listed, key=lambda r: (order.get(r.outcome, 3), r.name)):
            if r.outcome is Outcome.APPLIED:
                detail = r.lifecycle or ""
                if r.connector_id:
                    detail += f" (id {r.connector_id})"
                if r.replans:
                    detail += f"; re-planned {r.replans}x after concurrent changes"
            else:
                detail = r.reason or ""
            lines.append(
                f"  {r.outcome.value:<8} {r.name:<{width}} {r.action.value:<10} "
                f"{r.writes:>6}  {detail}"
            )
    if report.syncs:
        lines.append("")
        done = sum(1 for s in report.syncs if s.ok)
        lines.append(f"CRM data syncs: {done} of {len(report.syncs)} completed.")
        lines.extend(f"  {s.describe()}" for s in report.syncs if not s.ok)
    if counts["failed"]:
        lines.append("")
        lines.append(
            "Fix what the DETAIL column says and run apply again: it re-reads the tenant and "
            "sends only what is still missing."
        )
    return "\n".join(lines)
