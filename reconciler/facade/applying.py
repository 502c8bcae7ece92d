"""The facade's writing half: apply a plan, or the whole sequence fetch → plan (or verify a
saved plan) → approve → execute → sync, with the options it runs under (`ApplyOptions`) and
the hooks a caller takes part through (reconciler.facade re-exports these)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import anyio

from reconciler.apply.actor import Actor, detect_actor
from reconciler.apply.audit import AuditLog
from reconciler.apply.context import ExecContext
from reconciler.apply.datasync import PollPolicy, SyncObserver, run_syncs
from reconciler.apply.policy_hold import hold_violations
from reconciler.apply.results import ConnectorResult
from reconciler.apply.run import ApplyReport, CredentialResolver, execute_plan, held_results
from reconciler.config.project import Project
from reconciler.cxone.client import CxoneClient
from reconciler.errors import StalePlanError
from reconciler.facade.approval import Approval, approval_of
from reconciler.facade.planning import applied_history, plan_connectors
from reconciler.load.desired import LoadResult
from reconciler.load.secret_lookup import SecretLookup
from reconciler.model import RemoteConnector
from reconciler.plan.applied import AppliedHistory
from reconciler.plan.changes import Action, ConnectorChange, Plan
from reconciler.plan.credentials import CredentialChecker
from reconciler.plan.reviewed import Review, review, reviewed_part
from reconciler.plan.saved import SavedPlan, verify

#: What an apply of a stale saved plan does: refuse it (Terraform's rule), plan afresh and
#: confirm that plan unreviewed, or plan afresh and apply only what was reviewed.
StaleRule = Literal["fail", "replan", "reviewed"]


@dataclass(frozen=True)
class SyncRequest:
    """Run a CRM data sync on every connector an apply created or changed that is ACTIVE."""

    sync_type: str = "INCREMENTAL"
    policy: PollPolicy = field(default_factory=PollPolicy)
    progress: Callable[[int], SyncObserver] | None = None


@dataclass(frozen=True)
class ApplyOptions:
    """How an apply runs: the CLI makes it from its flags, the controller from its own.
    `apply_changes` takes `parallelism`, `sync` and `require_identity` from it (the plan it
    is given carries the rest)."""

    #: The environment of cxrecon.yaml planned for (None: the default one).
    environment: str | None = None
    #: Deactivate managed connectors removed from git.
    prune: bool = False
    #: The desired state is the whole connectors directory (False: one file of it, so no
    #: connector is an orphan; `plan_scope` tells).
    complete: bool = True
    #: Plan connectors another project manages as this project's.
    take_ownership: bool = False
    parallelism: int = 8
    #: What a stale saved plan does (see `StaleRule`).
    if_stale: StaleRule = "fail"
    sync: SyncRequest | None = None
    #: False only for a tenant nobody shares (the embedded emulator of `--emulator`) or a
    #: run that writes nothing (the controller's --dry-run).
    require_identity: bool = True


@dataclass(frozen=True)
class ApplyHooks:
    """Where a caller takes part in an apply; every hook is optional.

    - `confirm(plan, approval)`: shown the plan, and what it needs approved, before anything
      is written; raise a CxreconError to stop with nothing written.
    - `select(plan)`: the changes this run may write (the controller's windows and backoff);
      default all. Changes not selected get no result.
    - `on_stale(error)`: a stale saved plan is replaced by a fresh one (`if_stale`), and why.
    - `on_review(review)`: the fresh plan held against the reviewed one (`if_stale="reviewed"`).
    - `on_result(result)`: as each connector finishes.
    - `should_start()`: asked as each connector gets its turn (a stopping controller).
    - `should_write()`: asked before each write (an interrupted apply stops at once).
    """

    confirm: Callable[[Plan, Approval], None] | None = None
    select: Callable[[Plan], Sequence[ConnectorChange]] | None = None
    on_stale: Callable[[StalePlanError], None] | None = None
    on_review: Callable[[Review], None] | None = None
    on_result: Callable[[ConnectorResult], None] | None = None
    should_start: Callable[[], bool] | None = None
    should_write: Callable[[], bool] | None = None


@dataclass(frozen=True, repr=False)
class ApplyRun:
    """An apply's plan (`reviewed`: a verified saved plan), what it needed approved, and what
    happened."""

    plan: Plan
    reviewed: bool
    report: ApplyReport
    approval: Approval
    #: A stale saved plan applied under `if_stale="reviewed"`: the fresh plan against it.
    review: Review | None = None

    def __repr__(self) -> str:
        return f"ApplyRun(reviewed={self.reviewed}, report={self.report.outcome_counts()})"


def open_audit_log(
    path: Path,
    *,
    environment: str | None,
    command: str,
    root: Path | None = None,
    actor: Actor | None = None,
    run_id: str | None = None,
) -> AuditLog:
    """The audit log a run appends to (`with open_audit_log(...) as audit`); `actor` defaults
    to who runs this process (user, CI actor, the commit checked out at `root`). `root`: the
    folder below which no link is followed on the way to `path`."""
    who = actor if actor is not None else detect_actor(os.environ, root)
    return AuditLog(
        path, actor=who, environment=environment, run_id=run_id, command=command, root=root
    )


async def apply_changes(
    project: Project,
    client: CxoneClient,
    plan: Plan,
    *,
    secrets: SecretLookup,
    options: ApplyOptions = ApplyOptions(),
    hooks: ApplyHooks = ApplyHooks(),
    checker: CredentialChecker | None = None,
    audit: AuditLog | None = None,
) -> ApplyReport:
    """Execute `plan` (or the part `hooks.select` chooses), then the requested CRM syncs.

    ConfigError (one line naming `project:`), nothing written, when the project has no
    identity: as the commands, so a program on the library never labels or prunes another
    project's connectors. `options.require_identity=False` only for a tenant nobody shares
    (the embedded emulator of `--emulator`).
    """
    if options.require_identity:
        project.require_id()
    checker = checker if checker is not None else CredentialChecker(lookup=secrets)
    resolver = CredentialResolver(secrets, checker)
    ctx = ExecContext(
        client=client,
        credentials=resolver,
        checker=checker,
        limits=project.safety,
        desired_digest=plan.desired_digest,
        environment=plan.environment,
        prune=plan.prune,
        audit=audit,
        project=project.project_id,
        policies=project.policies(plan.environment),
        should_write=hooks.should_write,
    )
    chosen = plan
    if hooks.select is not None:
        chosen = replace(plan, changes=tuple(hooks.select(plan)))
    chosen, refused = hold_violations(
        plan, chosen, project.cel_policies.rules, project.project_id or ""
    )
    results = await execute_plan(
        chosen,
        ctx,
        parallelism=options.parallelism,
        credentials=resolver,
        on_result=hooks.on_result,
        should_start=hooks.should_start,
    )
    report = ApplyReport(results=results + refused)
    targets = report.sync_targets()
    stopped = hooks.should_write is not None and not hooks.should_write()
    sync = options.sync
    if sync is not None and targets and not stopped:  # an interrupted apply starts no sync
        syncs = await run_syncs(
            client,
            targets,
            sync_type=sync.sync_type,
            policy=sync.policy,
            parallelism=options.parallelism,
            progress=sync.progress(len(targets)) if sync.progress else None,
            audit=audit,
        )
        report = ApplyReport(results=results + refused, syncs=syncs)
    return report


async def apply_desired(
    project: Project,
    client: CxoneClient,
    loaded: LoadResult,
    *,
    secrets: SecretLookup,
    options: ApplyOptions = ApplyOptions(),
    hooks: ApplyHooks = ApplyHooks(),
    saved: SavedPlan | None = None,
    audit: AuditLog | None = None,
    history: AppliedHistory | None = None,
) -> ApplyRun:
    """A whole apply: fetch the tenant, verify the saved plan (or plan afresh), show
    `hooks.confirm` the plan and what it needs approved, execute, sync. Without an identity:
    ConfigError before the tenant is read, as in `apply_changes`. `history` defaults to what
    `audit`'s log says was applied before.

    A saved plan is applied exactly or refused as stale (StalePlanError), unless
    `options.if_stale` says otherwise: `hooks.on_stale` is told why, then "replan" sends a
    fresh plan to `confirm` unreviewed, and "reviewed" holds the fresh plan against the saved
    one (`hooks.on_review` sees the comparison): only changes that are as reviewed are
    confirmed (under the reviewed plan's safety verdict) and written; every other change
    fails with the reason, and nothing is written for it.
    """
    if options.require_identity:
        project.require_id()
    checker = CredentialChecker(lookup=secrets)
    remote = tuple(await client.list_connectors())
    reviewed = replanned = False
    verdict: Review | None = None
    if history is None and audit is not None:
        history = applied_history(audit.path, audit.environment)
    fresh = functools.partial(
        plan_connectors,
        project,
        loaded,
        remote,
        checker=checker,
        environment=options.environment,
        prune=options.prune,
        complete=options.complete,
        take_ownership=options.take_ownership,
        history=history,
    )
    plan = await anyio.to_thread.run_sync(fresh)
    if saved is not None:
        verified = _verified(project, loaded, saved, plan, remote, checker, history, options, hooks)
        if verified is not None:
            # The safety gate is judged on git and the tenant as they are (the fresh plan),
            # never taken from the file (an artifact whoever produced it could have edited).
            plan, reviewed = _with_whole(verified, plan), True
        else:
            replanned = True
            if options.if_stale == "reviewed":
                verdict = review(saved, plan)
                if hooks.on_review is not None:
                    hooks.on_review(verdict)
                plan, reviewed = reviewed_part(plan, verdict, plan.safety), True
    approval = approval_of(
        plan,
        reviewed=reviewed,
        replanned=replanned,
        saved=saved.path if saved is not None else None,
    )
    if hooks.confirm is not None:
        hooks.confirm(plan, approval)
    report = await apply_changes(
        project,
        client,
        plan,
        secrets=secrets,
        options=options,
        hooks=hooks,
        checker=checker,
        audit=audit,
    )
    if verdict is not None and verdict.held:
        report = replace(report, results=report.results + held_results(verdict))
    return ApplyRun(plan=plan, reviewed=reviewed, report=report, approval=approval, review=verdict)


def _verified(
    project: Project,
    loaded: LoadResult,
    saved: SavedPlan,
    fresh: Plan,
    remote: Sequence[RemoteConnector],
    checker: CredentialChecker,
    history: AppliedHistory | None,
    options: ApplyOptions,
    hooks: ApplyHooks,
) -> Plan | None:
    """The saved plan rebuilt against the tenant, or None when it is stale and
    `options.if_stale` lets the apply use the `fresh` plan instead (StalePlanError
    otherwise)."""
    try:
        return verify(
            saved,
            desired_digest=fresh.desired_digest,
            remote=remote,
            checker=checker,
            desired=loaded.connectors,
            project=project.project_id,
            policies=project.policies(saved.environment),
            history=history,
        )
    except StalePlanError as exc:
        if options.if_stale == "fail":
            raise
        if hooks.on_stale is not None:
            hooks.on_stale(exc)
        return None


def _with_whole(verified: Plan, whole: Plan) -> Plan:
    """The verified saved plan with the whole tenant's safety verdict, the policies it breaks
    as judged now (shown and told as for a fresh plan; apply holds on them afresh too) and
    its unchanged connectors (so its summary counts them, as the plan that was reviewed did)."""
    mine = {c.name for c in verified.changes}
    unchanged = [c for c in whole.changes if c.action is Action.NOOP and c.name not in mine]
    changes = tuple(sorted((*verified.changes, *unchanged), key=lambda c: c.sort_key))
    return replace(verified, changes=changes, safety=whole.safety, violations=whole.violations)
