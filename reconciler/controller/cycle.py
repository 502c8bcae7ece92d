"""One reconcile cycle: pull git, load, plan against the tenant, decide per connector, apply.

Planning and applying are the facade's `apply_desired`, as `cxrecon apply` calls it; the
controller's own policy over the approval it returns is reconciler.controller.decisions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import logging
from collections.abc import AsyncIterator, Callable, Mapping

import anyio

from reconciler.apply.actor import Actor
from reconciler.apply.audit import AuditWriteError
from reconciler.celpolicy.evaluate import Violation
from reconciler.config.identity import check_write_target
from reconciler.config.project import EnvironmentConfig, Project
from reconciler.config.settings import ConnectionSettings
from reconciler.controller.backoff import ConnectorBackoff
from reconciler.controller.decisions import Decided, Policy, reports_of
from reconciler.controller.gitrepo import GitRepo, PullResult, own_checkout
from reconciler.controller.known import KnownConnectors
from reconciler.controller.metering import CycleMeter, MeteredClient
from reconciler.controller.report import (
    Clock,
    ConnectorReport,
    ControllerOptions,
    CycleReport,
    CycleResult,
    Decision,
    Phase,
)
from reconciler.cxone.stats import ApiStats
from reconciler.errors import CxreconError
from reconciler.facade import (
    ApplyHooks,
    ApplyOptions,
    Approval,
    apply_desired,
    open_audit_log,
    open_project,
    secrets_for,
)
from reconciler.load.desired import raise_if_invalid
from reconciler.load.incremental import KeptFiles, real_paths
from reconciler.plan.changes import ConnectorChange, Plan

log = logging.getLogger("cxrecon.controller")

SettingsFor = Callable[[Project, EnvironmentConfig], ConnectionSettings]


class CycleRunner:
    """Runs cycles; keeps what must survive between them (backoff, API stats, the actor)."""

    def __init__(
        self,
        options: ControllerOptions,
        *,
        settings_for: SettingsFor,
        environ: Mapping[str, str],
        clock: Clock,
        backoff: ConnectorBackoff,
        stats: ApiStats,
        actor: Actor,
        stopping: Callable[[], bool],
        run_prefix: str,
        emulated: bool = False,
    ) -> None:
        self.options = options
        self.settings_for = settings_for
        self.environ = environ
        self.clock = clock
        self.backoff = backoff
        self.stats = stats
        self.actor = actor
        self.stopping = stopping
        self.emulated = emulated
        #: Audit records of cycle N carry run id "<run_prefix>-N".
        self.run_prefix = run_prefix
        self.repo = (
            GitRepo(
                options.repo,
                owned=own_checkout(options.repo, environ),
                dry_run=options.dry_run,
            )
            if options.pull
            else None
        )
        #: The desired state of the last cycle: a new commit re-reads only what changed.
        self.kept = KeptFiles()
        self._warned: set[str] = set()
        #: Connectors this controller knows it manages (to tell "deleted in CXone").
        self.known = KnownConnectors(options.audit_log)
        #: The project of the last cycle that read it (what `notifications:` it has).
        self.project: Project | None = None
        #: The environment the last cycle resolved (-e, else cxrecon.yaml's), for /metrics.
        self.environment: str | None = options.environment
        #: The `policies:` the last cycle's plan breaks (its report carries them).
        self.violations: tuple[Violation, ...] = ()
        #: One client (and token) for every cycle while `keep_client()` is open.
        self._keeping = False
        self._client: MeteredClient | None = None
        self._client_settings: ConnectionSettings | None = None
        #: Why the audit log could not take a record, until one goes through.
        self._audit_failure: str | None = None

    @contextlib.asynccontextmanager
    async def keep_client(self) -> AsyncIterator[None]:
        """Cycles run inside share one API client, its connections and its token (refreshed
        by the client as it expires); a change of connection settings opens a new one."""
        self._keeping = True
        try:
            yield
        finally:
            self._keeping = False
            await self._close_client()

    async def _close_client(self) -> None:
        client, self._client, self._client_settings = self._client, None, None
        if client is not None:
            await client.__aexit__(None, None, None)

    @contextlib.asynccontextmanager
    async def _api(
        self, settings: ConnectionSettings, meter: CycleMeter
    ) -> AsyncIterator[MeteredClient]:
        listed = functools.partial(meter.enter, Phase.PLAN)
        if not self._keeping:
            api = MeteredClient(settings, parallelism=self.options.parallelism, stats=self.stats)
            api.listed = listed
            async with api:
                yield api
            return
        if self._client is not None and self._client_settings != settings:
            await self._close_client()
        if self._client is None:
            client = MeteredClient(settings, parallelism=self.options.parallelism, stats=self.stats)
            await client.__aenter__()
            self._client, self._client_settings = client, settings
        self._client.listed = listed
        try:
            yield self._client
        finally:
            self._client.listed = lambda: None

    async def run(self, number: int) -> CycleReport:
        started = self.clock.now()
        t0 = self.clock.monotonic()
        meter = CycleMeter(self.clock.monotonic)
        meter.enter(Phase.PULL)
        pull: PullResult | None = None
        commit: str | None = None
        try:
            if self.repo is not None:
                pull = await self.repo.pull()
                commit = pull.commit
                if pull.changed and not pull.rewritten:  # a rewrite is logged as a warning
                    log.info("%s", pull.message)
                elif pull.ok:
                    log.debug("%s", pull.message)
                else:
                    # A failed fetch leaves the working tree as it was: keep using it.
                    log.warning("%s; using the last good commit %s", pull.message, commit)
            else:
                commit = await GitRepo(self.options.repo).head()  # None outside a checkout
            connectors, interrupted = await self._reconcile(number, commit, pull, meter)
        except CxreconError as exc:
            return self._failed(number, started, t0, commit, pull, str(exc), meter)
        except Exception as exc:  # an internal bug must not end the loop
            log.exception("cycle %d failed unexpectedly", number)
            error = f"{type(exc).__name__}: {exc}"
            return self._failed(number, started, t0, commit, pull, error, meter)
        partial = any(
            c.failed or c.decision in (Decision.ERROR, Decision.BACKOFF) for c in connectors
        )
        phases = meter.finish()
        return CycleReport(
            number=number,
            started=started,
            duration=self.clock.monotonic() - t0,
            result=CycleResult.PARTIAL if partial else CycleResult.SUCCESS,
            commit=commit,
            pull=pull,
            connectors=connectors,
            interrupted=interrupted,
            phases=phases,
            files_parsed=meter.files_parsed,
            violations=self.violations,
        )

    def _failed(
        self,
        number: int,
        started: dt.datetime,
        t0: float,
        commit: str | None,
        pull: PullResult | None,
        error: str,
        meter: CycleMeter,
    ) -> CycleReport:
        phases = meter.finish()
        return CycleReport(
            number=number,
            started=started,
            duration=self.clock.monotonic() - t0,
            result=CycleResult.FAILED,
            commit=commit,
            pull=pull,
            error=error,
            phases=phases,
            files_parsed=meter.files_parsed,
        )

    async def _changed(self, commit: str | None, pull: PullResult | None) -> frozenset[str] | None:
        """The files git says changed since the kept desired state was loaded (real paths);
        None when that cannot be told (then every file is read again)."""
        if commit is None:
            return frozenset()  # not a git checkout: each file's own lstat tells
        kept = self.kept.commit
        if kept is None:
            return None
        discarded = pull.discarded if pull is not None else ()
        if kept == commit and not discarded:
            return frozenset()
        found = await GitRepo(self.options.repo).changed_files(kept, commit)
        if found is None:
            return None
        top, names = found
        return real_paths(top, (*names, *discarded))

    async def _reconcile(
        self, number: int, commit: str | None, pull: PullResult | None, meter: CycleMeter
    ) -> tuple[tuple[ConnectorReport, ...], bool]:
        opts = self.options
        meter.enter(Phase.LOAD)
        project = self.project = await anyio.to_thread.run_sync(
            open_project, opts.repo, self.environ
        )
        windows = project.sync_windows
        if opts.dry_run:
            env = project.environment(opts.environment)
        else:
            # A write names its identity, environment and tenant (issue 24): the cycle fails
            # with the reason, before anything is fetched or written.
            project.require_id()
            warning = project.identity_warning()
            if warning is not None:
                self._warn(warning)
            env = project.write_environment(opts.environment)
            check_write_target(env, self.environ, emulated=self.emulated)
        self.environment = project.environment_label(opts.environment)
        changed = await self._changed(commit, pull)
        loaded = await anyio.to_thread.run_sync(
            functools.partial(
                self.kept.load, project, env, strict=opts.strict, commit=commit, changed=changed
            )
        )
        meter.files_parsed = loaded.parsed
        raise_if_invalid(loaded)
        meter.enter(Phase.FETCH)
        env_name = project.environment_label(opts.environment)
        settings = self.settings_for(project, env)
        audit = None
        if not opts.dry_run:
            actor = dataclasses.replace(self.actor, git_commit=commit or self.actor.git_commit)
            audit = open_audit_log(
                opts.audit_log,
                actor=actor,
                environment=env_name,
                run_id=f"{self.run_prefix}-{number}",
                command="reconcile",
                root=opts.state_root,
            )
        decided: list[Decided] = []

        def confirm(plan: Plan, approval: Approval) -> None:
            # The controller's policy over what the plan needs approved (no one is asked).
            meter.enter(Phase.APPLY)
            policy = Policy(opts, windows, env_name, self.backoff, self.stopping, self.clock.now())
            decided.extend(policy.decide(plan, approval))

        def select(plan: Plan) -> list[ConnectorChange]:
            return [d.change for d in decided if d.selected]

        try:
            secrets = secrets_for(
                project, environ=self.environ, emulated=self.emulated, warn=self._warn, audit=audit
            )
            async with self._api(settings, meter) as api:
                run = await apply_desired(
                    project,
                    api,
                    loaded,
                    secrets=secrets,
                    options=ApplyOptions(
                        environment=opts.environment,
                        prune=opts.prune,
                        parallelism=opts.parallelism,
                        # --dry-run selects nothing to write (checked above otherwise).
                        require_identity=not opts.dry_run,
                    ),
                    hooks=ApplyHooks(
                        confirm=confirm,
                        select=select,
                        should_start=lambda: not self.stopping(),
                    ),
                    audit=audit,
                    history=self.known.history(env_name),
                )
        finally:
            if audit is not None:
                audit.close()  # flush + fsync: the cycle's records are durable before it ends
        self.known.remember(run.plan, project.project_id or "", self.clock.now())
        self.violations = run.plan.violations
        results = {r.name: r for r in run.report.results}
        reports = reports_of(decided, results, self.backoff)
        self.backoff.keep_only(c.name for c in run.plan.changes)
        # Writes that could not all be recorded make a failed cycle (readiness says why): a
        # write whose intent could not be written was not sent, and is tried again. While
        # connectors back off after it, the cycles fail too, until a record goes through.
        if audit is not None and audit.failure is not None:
            self._audit_failure = audit.failure
        elif audit is not None and (
            audit.records_written or not any(r.decision is Decision.BACKOFF for r in reports)
        ):
            self._audit_failure = None
        if self._audit_failure is not None:
            raise AuditWriteError(self._audit_failure)
        return reports, any(r.decision is Decision.STOPPING for r in reports)

    def _warn(self, message: str) -> None:
        if message not in self._warned:  # once per process, not once per cycle
            self._warned.add(message)
            log.warning("%s", message.removeprefix("warning: "))
