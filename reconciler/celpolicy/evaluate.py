"""Checking connectors against the project's policies: what each rule sees, and the
`Violation`s validate, plan, apply and the controller report (and apply holds back).

A rule sees `connector` (desired, secrets as their references), `current` (CXone's,
secrets masked; null for a create), `change` (null in validate), `environment`, `project`.
A rule that fails while it runs (a missing field) is a violation with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from reconciler.celpolicy.compile import PolicyRule, PolicySeverity
from reconciler.model import ConnectorSpec, DesiredConnector, SourceLocation
from reconciler.secret import CREDENTIALS_PATH, MASK

if TYPE_CHECKING:
    import cel

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
        return f"{where}{self.severity}: policy '{self.policy}': {self.connector}: {self.message}"

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
    out: list[Violation] = []
    for change in changes:
        desired = change.desired
        if desired is None:
            continue
        variables = {
            **shared,
            "connector": _connector(desired.spec),
            "current": None if change.remote is None else _current(change.remote.spec),
            "change": {
                "action": str(change.action),
                "fields": [f.path for f in change.fields],
                "deactivates": deactivates(change),
            },
        }
        out.extend(_check_one(active, desired, variables, environment))
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
    out: list[Violation] = []
    if not active:
        return ()
    shared = {
        "environment": environment or "",
        "project": {"name": project, "deactivations": 0, "changes": {}},
        "current": None,
        "change": None,
    }
    for desired in connectors:
        variables = {**shared, "connector": _connector(desired.spec)}
        out.extend(_check_one(active, desired, variables, environment))
    return tuple(out)


def skipped_offline(rules: Sequence[PolicyRule]) -> tuple[PolicyRule, ...]:
    """The rules `validate` cannot check (they read `current` or `change`)."""
    return tuple(r for r in rules if r.needs_plan)


def _check_one(
    rules: Sequence[PolicyRule],
    desired: DesiredConnector,
    variables: Mapping[str, Any],
    environment: str | None,
) -> list[Violation]:
    name = desired.name
    applicable = [r for r in rules if r.applies(name, environment)]
    if not applicable:
        return []
    context = _context(variables)
    out: list[Violation] = []
    for rule in applicable:
        reason: str | None = None
        try:
            result = rule.program.execute(context)
        except Exception as exc:  # the library raises ValueError/TypeError/KeyError/RuntimeError
            reason = _reason(exc)
        else:
            if result is True:
                continue
            if result is not False:
                reason = f"the rule gave {_shown(result)}, not true or false"
        message = rule.message or f"the rule does not hold: {rule.rule.strip()}"
        if reason is not None:
            message = f"{message} (the rule could not be evaluated: {reason})"
        out.append(
            Violation(rule.name, rule.severity, name, environment, message, desired.source, reason)
        )
    return out


def _context(variables: Mapping[str, Any]) -> cel.Context:
    import cel

    # One context per connector: its values are converted once for all of its rules.
    return cel.Context(dict(variables))


def _connector(spec: ConnectorSpec) -> dict[str, Any]:
    # The desired spec holds secret references (`${env:NAME}`), never their values.
    return spec.to_api()


def _current(spec: ConnectorSpec) -> dict[str, Any]:
    body = spec.to_api()
    section, key = CREDENTIALS_PATH
    credentials = body.get(section, {}).get(key)
    if isinstance(credentials, dict):
        # CXone masks write-only fields already; never rely on the other side for that.
        body[section][key] = dict.fromkeys(credentials, MASK)
    return body


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, KeyError):
        text = f"no such key: {text}"
    return text[:_REASON_CHARS]


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
