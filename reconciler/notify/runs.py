"""What `cxrecon drift` and `cxrecon apply` tell (apply: also the policies broken by what it
writes or holds): one call each, a no-op without `notifications:`, never raising.

Each call sends within the destinations' time budget (send.BUDGET_SECONDS) and returns the
deliveries; a failed one is a warning through `warn`, and the caller's result is unchanged.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from reconciler.notify.events import (
    Event,
    EventKind,
    PolicyFinding,
    Where,
    apply_events,
    drift_events,
    policy_violation_event,
    run_failed_event,
)
from reconciler.notify.send import Delivery, Notifier, Warn

if TYPE_CHECKING:
    from reconciler.apply.run import ApplyReport
    from reconciler.config.project import Project
    from reconciler.gitops.drift import DriftReport
    from reconciler.plan.changes import Plan


def notify_drift(
    project: Project,
    environment: str | None,
    report: DriftReport,
    *,
    warn: Warn,
    commit: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Delivery]:
    """`drift` and `deleted-in-cxone` for what `cxrecon drift` found."""
    if not _wanted(project, (EventKind.DRIFT, EventKind.DELETED), environment):
        return []
    where = _where(project, environment, commit, environ)
    return _send(project, drift_events(report, where), warn, environ)


def notify_apply(
    project: Project,
    environment: str | None,
    report: ApplyReport,
    plan: Plan | None,
    *,
    warn: Warn,
    commit: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Delivery]:
    """`applied` and `apply-failed` for what `cxrecon apply` did, `policy-violation` for the
    policies broken by the connectors it wrote or held."""
    kinds = (EventKind.APPLIED, EventKind.APPLY_FAILED, EventKind.POLICY_VIOLATION)
    if not _wanted(project, kinds, environment):
        return []
    where = _where(project, environment, commit, environ)
    return _send(project, apply_events(report, plan, where), warn, environ)


def notify_apply_error(
    project: Project,
    environment: str | None,
    error: Exception,
    *,
    warn: Warn,
    commit: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Delivery]:
    """`apply-failed` for an apply that stopped before its connectors (the error's one line).

    A refusal at a terminal is a person's answer, not a failure: only a run without a
    terminal (CI, a merge apply) tells it."""
    from reconciler.errors import NotConfirmed

    if isinstance(error, NotConfirmed) and sys.stdin.isatty():
        return []
    if not _wanted(project, (EventKind.APPLY_FAILED,), environment):
        return []
    where = _where(project, environment, commit, environ)
    return _send(project, [run_failed_event(str(error), where)], warn, environ)


def notify_policy_violations(
    project: Project,
    environment: str | None,
    violations: Sequence[PolicyFinding],
    *,
    warn: Warn,
    commit: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Delivery]:
    """`policy-violation` for the findings of `policies:` (one message listing them): the
    policies stage's violations, or `events.Violation` values."""
    if not violations or not _wanted(project, (EventKind.POLICY_VIOLATION,), environment):
        return []
    event = policy_violation_event(violations, _where(project, environment, commit, environ))
    return _send(project, [event] if event is not None else [], warn, environ)


def _wanted(project: Project, kinds: Sequence[EventKind], environment: str | None) -> bool:
    """Whether any destination wants one of `kinds` here (else nothing is imported or run)."""
    return any(n.wants(k.value, environment) for n in project.notifications for k in kinds)


def _where(
    project: Project,
    environment: str | None,
    commit: str | None,
    environ: Mapping[str, str] | None,
) -> Where:
    env = os.environ if environ is None else environ
    if commit is None:
        from reconciler.apply.actor import detect_actor

        commit = detect_actor(env, project.root).git_commit
    return Where.of(env, environment=environment, commit=commit, project=project.name)


def _send(
    project: Project, events: Sequence[Event], warn: Warn, environ: Mapping[str, str] | None
) -> list[Delivery]:
    if not events:
        return []
    notifier = Notifier(project.notifications, warn=warn, environ=environ, project=project.name)
    try:
        return notifier.send(events)
    except Exception as exc:  # a bug here must not change the command's result either
        warn(f"warning: notifications not sent ({type(exc).__name__}); the result is unchanged")
        return []
