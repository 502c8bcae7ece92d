"""The facade's reading half: open a project, load the desired state, plan against a
tenant, report drift, dump a tenant (reconciler.facade re-exports these)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from reconciler.apply.audit import AuditLog
from reconciler.apply.audit_reader import read_history
from reconciler.apply.calltrace import TracingStats
from reconciler.celpolicy.evaluate import check_changes
from reconciler.config.project import EnvironmentConfig, Project, load_project
from reconciler.config.settings import ConnectionSettings
from reconciler.cxone.client import CxoneClient
from reconciler.errors import ConfigError
from reconciler.hashing import desired_state_digest
from reconciler.load.desired import LoadResult, raise_if_invalid, read_desired
from reconciler.load.secret_lookup import SecretLookup
from reconciler.model import RemoteConnector
from reconciler.plan.applied import AppliedHistory
from reconciler.plan.build import build_plan
from reconciler.plan.changes import Plan
from reconciler.plan.credentials import CredentialChecker

if TYPE_CHECKING:
    # Imported where used: drift and dump are other commands' work (`apply` and `plan`
    # start without them), and the cache module is only passed through here.
    from reconciler.gitops.drift import DriftReport
    from reconciler.gitops.dump import Dump
    from reconciler.load.cache import FileCache
    from reconciler.plan.comparison import Comparison

_T = TypeVar("_T")


class ConnectorSource(Protocol):
    """What planning needs from the API client (reconciler.cxone.client.CxoneClient)."""

    async def list_connectors(self) -> list[RemoteConnector]: ...


@dataclass(frozen=True, repr=False)
class PlanRun:
    """A plan and what it was made from; `timings` are seconds per phase."""

    plan: Plan
    loaded: LoadResult
    remote: tuple[RemoteConnector, ...]
    checker: CredentialChecker
    timings: Mapping[str, float] = field(default_factory=dict)

    def __repr__(self) -> str:
        # Short on purpose: Python 3.11's asyncio.run formats the repr of the main task's
        # result when it restores the SIGINT handler; the generated repr of 10,000 desired
        # and remote connectors took 2 s and 300 MB there.
        counts = ", ".join(f"{a.value}={n}" for a, n in self.plan.summary.items() if n)
        return (
            f"PlanRun(desired={len(self.loaded.connectors)}, remote={len(self.remote)}, "
            f"changes=[{counts}])"
        )


def open_project(root: Path | None = None, environ: Mapping[str, str] | None = None) -> Project:
    """`cxrecon.yaml` of the project at `root` (default: the working directory); defaults
    when there is none. ConfigError with every problem of the file. Where the file has no
    `project:`, CXRECON_PROJECT of `environ` (default: the process environment) names it."""
    return load_project(root, environ)


def load_desired(
    project: Project,
    environment: str | EnvironmentConfig | None = None,
    path: Path | None = None,
    *,
    strict: bool = False,
    cache: FileCache | None = None,
) -> LoadResult:
    """Load and validate the connector files (`path`: a directory or one file; default the
    project's connectors path; files unchanged since an earlier run from `cache`);
    ConfigError with every diagnostic when invalid."""
    env = (
        environment
        if isinstance(environment, EnvironmentConfig)
        else project.environment(environment)
    )
    target = path if path is not None else project.connectors_path
    loaded = read_desired(target, env, strict=strict, project=project, cache=cache)
    raise_if_invalid(loaded)
    return loaded


def secrets_for(
    project: Project,
    *,
    environ: Mapping[str, str] | None = None,
    emulated: bool = False,
    warn: Callable[[str], None] | None = None,
    audit: AuditLog | None = None,
) -> SecretLookup:
    """The run's one secret lookup: `${env:}` from `environ` (default the process
    environment), `${file:}` relative to the project root; every value resolved is
    registered with `audit` so the audit log masks it."""
    return SecretLookup(
        os.environ if environ is None else environ,
        project.root,
        emulated=emulated,
        warn=warn,
        register=audit.register_secret if audit is not None else None,
    )


def applied_history(audit_log: Path, environment: str | None) -> AppliedHistory:
    """What cxrecon applied in `environment` before, as `audit_log` records it (empty when
    there is none): what tells a connector deleted in CXone from one not created yet."""
    return read_history(audit_log, environment)


def plan_scope(path: Path | None, prune: bool) -> bool:
    """Whether PATH holds the whole desired state (True) or one file of it (False).

    One file is a subset of the repository: every other managed connector would look
    deleted from git, so it is neither an orphan nor something to prune.
    """
    complete = path is None or not path.is_file()
    if prune and not complete:
        raise ConfigError(
            f"--prune needs the whole connectors directory, but {path} is one file: every "
            "other managed connector would be deactivated. Run without PATH (or with the "
            "directory), or drop --prune"
        )
    return complete


def plan_connectors(
    project: Project,
    loaded: LoadResult,
    remote: Sequence[RemoteConnector],
    *,
    checker: CredentialChecker,
    environment: str | None = None,
    prune: bool = False,
    complete: bool = True,
    take_ownership: bool = False,
    history: AppliedHistory | None = None,
) -> Plan:
    """The one way a plan is built from a loaded desired state and the tenant's connectors
    (pure; fingerprint checks may be slow: async callers run it in a thread).
    `take_ownership`: plan connectors another project manages as this project's.
    `history`: the connectors cxrecon applied here before (the audit log): one missing
    from CXone is planned as a create marked deleted in CXone."""
    plan = build_plan(
        loaded.connectors,
        remote,
        limits=project.safety,
        checker=checker,
        desired_digest=desired_state_digest(loaded.connectors, loaded.environment),
        prune=prune,
        environment=project.environment_label(environment),
        complete=complete,
        project=project.project_id,
        take_ownership=take_ownership,
        policies=project.policies(environment),
        history=history,
        previous_projects=project.previous_projects,
    )
    return with_policy_check(project, plan)


def with_policy_check(project: Project, plan: Plan) -> Plan:
    """`plan` with the violations of the project's `policies:` (docs/policies.md)."""
    if not project.cel_policies:
        return plan
    violations = check_changes(
        project.cel_policies.rules,
        plan.changes,
        environment=plan.environment,
        project=project.project_id or "",
    )
    return replace(plan, violations=violations)


def compare_plans(plans: Mapping[str, Plan]) -> Comparison:
    """The plans of several environments side by side (`plan -e sandbox -e production`):
    per connector and field, the value each environment would have after apply."""
    from reconciler.plan.comparison import compare

    return compare(plans)


async def make_plan(
    project: Project,
    source: ConnectorSource,
    *,
    environment: str | None = None,
    path: Path | None = None,
    prune: bool = False,
    strict: bool = False,
    secrets: SecretLookup | None = None,
    loaded: LoadResult | None = None,
    take_ownership: bool = False,
    history: AppliedHistory | None = None,
    cache: FileCache | None = None,
) -> PlanRun:
    """Load (unless `loaded` is given; files unchanged since an earlier run from `cache`),
    fetch every connector, plan. Loading runs while the connectors are fetched (the fetch
    mostly waits for the network); a desired state with errors cancels the fetch and
    raises ConfigError, as `load_desired` does.

    Secrets (`secrets`, default: the process environment) are only used to compare
    credential fingerprints; one that cannot be resolved just makes credentials `unknown`
    (a lookup over an empty environment plans without any secret).
    """
    timings: dict[str, float] = {}
    complete = plan_scope(path, prune)
    if loaded is None:
        loaded, remote = await _load_while_fetching(
            source,
            timings,
            lambda: load_desired(project, environment, path, strict=strict, cache=cache),
        )
    else:
        timings["load"] = 0.0
        remote = tuple(await _timed(source.list_connectors(), timings, "fetch"))

    start = time.perf_counter()
    checker = CredentialChecker(lookup=secrets if secrets is not None else secrets_for(project))
    plan = plan_connectors(
        project,
        loaded,
        remote,
        checker=checker,
        environment=environment,
        prune=prune,
        complete=complete,
        take_ownership=take_ownership,
        history=history,
    )
    timings["diff"] = time.perf_counter() - start
    return PlanRun(plan=plan, loaded=loaded, remote=remote, checker=checker, timings=timings)


async def _load_while_fetching(
    source: ConnectorSource, timings: dict[str, float], load: Callable[[], LoadResult]
) -> tuple[LoadResult, tuple[RemoteConnector, ...]]:
    """`load()` in a thread while the connectors are fetched; the load's error first (the
    fetch is then cancelled: its outcome no longer matters)."""
    fetching = asyncio.ensure_future(_timed(source.list_connectors(), timings, "fetch"))
    try:
        loaded = await _timed(asyncio.to_thread(load), timings, "load")
    except BaseException:
        fetching.cancel()
        await asyncio.gather(fetching, return_exceptions=True)
        raise
    return loaded, tuple(await fetching)


async def _timed(work: Awaitable[_T], timings: dict[str, float], phase: str) -> _T:
    start = time.perf_counter()
    try:
        return await work
    finally:
        timings[phase] = time.perf_counter() - start


async def check_drift(
    project: Project,
    source: ConnectorSource,
    *,
    environment: str | None = None,
    path: Path | None = None,
    loaded: LoadResult | None = None,
    history: AppliedHistory | None = None,
) -> tuple[DriftReport, PlanRun]:
    """What changed in CXone since cxrecon last applied each connector (not what is
    pending in git; a connector `history` knows and CXone lost is deleted there), and the
    planning run it was read from."""
    run = await make_plan(
        project, source, environment=environment, path=path, loaded=loaded, history=history
    )
    from reconciler.gitops.drift import drift_of

    return drift_of(run.plan), run


def connect(settings: ConnectionSettings, *, parallelism: int = 8) -> CxoneClient:
    """A client for the tenant `settings` name; use it as `async with connect(...) as c`.
    Its request accounting also feeds the audit log (each write's HTTP status, attempts)."""
    return CxoneClient(settings, parallelism=parallelism, stats=TracingStats())


async def dump_tenant(
    source: ConnectorSource, *, schema_ref: str | None = None, error_state: str = "ACTIVE"
) -> Dump:
    """The tenant's connectors as connector files (not yet written: `write_dump` does);
    `schema_ref` defaults to the published connector schema's address."""
    from reconciler.gitops.dump import build_dump
    from reconciler.gitops.dump_yaml import SCHEMA_REF

    remote = await source.list_connectors()
    ref = SCHEMA_REF if schema_ref is None else schema_ref
    return build_dump(remote, schema_ref=ref, error_state=error_state)
