"""Checking connectors against the project's policies: what each rule sees, and the
`Violation`s validate, plan, apply and the controller report (and apply holds back).

A rule sees `connector` (desired, secrets as their references), `current` (CXone's,
secrets masked; null for a create), `change` (null in validate), `environment`, `project`.
A rule that fails while it runs (a missing field) is a violation with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from reconciler.celpolicy.compile import PolicyRule, PolicySeverity
from reconciler.celpolicy.judge import Judge
from reconciler.model import ConnectorSpec, DesiredConnector, SourceLocation

if TYPE_CHECKING:
    pass

_REASON_CHARS: Final = 300


@dataclass(frozen=True, slots=True)
class Violation:
    """One rule that does not hold for one connector in one environment."""

    policy: str
    severity: PolicySeverity
    connector: str
    environment: str | None
    message: str
    #: The connector's file:line:col.
    location: SourceLocation | None = None
    #: Why the rule could not be evaluated (it then counts as not holding), else None.
    reason: str | None = None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        # Validate lists every environment's: the same connector and policy in two of them
        # are two findings, not one printed twice.
        env = f" in {self.environment}" if self.environment else ""
        return (
            f"{where}{self.severity}: policy '{self.policy}'{env}: {self.connector}: {self.message}"
        )

    def as_json(self) -> dict[str, Any]:
        loc = self.location
        return {
            "policy": self.policy,
            "severity": self.severity,
            "connector": self.connector,
            "environment": self.environment,
            "message": self.message,
            "reason": self.reason,
            "location": None if loc is None else str(loc),
            "path": None if loc is None else loc.path,
            "line": None if loc is None else loc.line,
            "col": None if loc is None else loc.col,
        }


class _Field(Protocol):
    @property
    def path(self) -> str: ...


class _Pinned(Protocol):
    @property
    def spec(self) -> ConnectorSpec: ...


class ChangeLike(Protocol):
    """What a rule reads of a plan's change (reconciler.plan.changes.ConnectorChange)."""

    @property
    def name(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def desired(self) -> DesiredConnector | None: ...
    @property
    def remote(self) -> _Pinned | None: ...
    @property
    def fields(self) -> Sequence[_Field]: ...
    @property
    def transition(self) -> tuple[str, str] | None: ...


def deactivates(change: ChangeLike) -> bool:
    """Whether applying `change` leaves a connector INACTIVE that is not INACTIVE now."""
    if change.transition is not None:
        return change.transition[1] == "INACTIVE"
    return str(change.action) == "deactivate"


def check_changes(
    rules: Sequence[PolicyRule],
    changes: Sequence[ChangeLike],
    *,
    environment: str | None,
    project: str,
) -> tuple[Violation, ...]:
    """Every violation of `rules` by the changes of one plan (those with a desired
    connector: an orphan has nothing declared to check)."""
    active = [r for r in rules if r.environments is None or environment in r.environments]
    if not active:
        return ()
    counts: dict[str, int] = {}
    for change in changes:
        counts[str(change.action)] = counts.get(str(change.action), 0) + 1
    shared = {
        "environment": environment or "",
        "project": {
            "name": project,
            "deactivations": sum(1 for c in changes if deactivates(c)),
            "changes": counts,
        },
    }
    judge = Judge(active, environment, shared)
    out: list[Violation] = []
    for change in changes:
        desired = change.desired
        if desired is None:
            continue
        seen = {
            "action": str(change.action),
            "fields": [f.path for f in change.fields],
            "deactivates": deactivates(change),
        }
        current = None if change.remote is None else change.remote.spec
        broken = judge.judge(desired.name, desired.spec, current, seen)
        out.extend(_violations(broken, desired, environment))
    return tuple(out)


def check_desired(
    rules: Sequence[PolicyRule],
    connectors: Iterable[DesiredConnector],
    *,
    environment: str | None,
    project: str,
) -> tuple[Violation, ...]:
    """What `validate` can check offline: the rules that read neither `current` nor
    `change` (`skipped_offline` names the others), over the desired connectors."""
    active = [
        r
        for r in rules
        if not r.needs_plan and (r.environments is None or environment in r.environments)
    ]
    if not active:
        return ()
    shared = {
        "environment": environment or "",
        "project": {"name": project, "deactivations": 0, "changes": {}},
    }
    judge = Judge(active, environment, shared)
    out: list[Violation] = []
    for desired in connectors:
        broken = judge.judge(desired.name, desired.spec, None, None)
        out.extend(_violations(broken, desired, environment))
    return tuple(out)


def skipped_offline(rules: Sequence[PolicyRule]) -> tuple[PolicyRule, ...]:
    """The rules `validate` cannot check (they read `current` or `change`)."""
    return tuple(r for r in rules if r.needs_plan)


def _violations(
    broken: Sequence[tuple[PolicyRule, str | None]],
    desired: DesiredConnector,
    environment: str | None,
) -> list[Violation]:
    out: list[Violation] = []
    for rule, outcome in broken:
        reason = outcome or None
        message = rule.message or f"the rule does not hold: {rule.rule.strip()}"
        if reason is not None:
            message = f"{message} (the rule could not be evaluated: {reason})"
        out.append(
            Violation(
                rule.name, rule.severity, desired.name, environment, message, desired.source, reason
            )
        )
    return out
