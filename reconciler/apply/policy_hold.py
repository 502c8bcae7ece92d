"""Apply's part in `policies:`: a connector whose change breaks a policy of severity
`error` is never written; it fails with the policies it breaks while the others proceed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from reconciler.apply.results import ConnectorResult, Outcome
from reconciler.celpolicy.compile import PolicyRule
from reconciler.celpolicy.evaluate import Violation, check_changes
from reconciler.plan.changes import Plan


def hold_violations(
    whole: Plan, chosen: Plan, rules: Sequence[PolicyRule], project: str
) -> tuple[Plan, tuple[ConnectorResult, ...]]:
    """`chosen` without the changes that break an `error` policy, and a failed result for
    each of those. The policies are judged on `whole` (the plan as shown: a rule counting
    the plan's deactivations counts all of them, not only this run's share) and afresh, so
    a saved plan's file cannot vouch for itself."""
    if not rules:
        return chosen, ()
    violations = check_changes(rules, whole.changes, environment=whole.environment, project=project)
    breaking: dict[str, list[Violation]] = {}
    for violation in violations:
        if violation.severity == "error":
            breaking.setdefault(violation.connector, []).append(violation)
    if not breaking:
        return replace(chosen, violations=violations), ()
    kept = tuple(c for c in chosen.changes if c.name not in breaking or not c.action.writes)
    held = tuple(
        ConnectorResult(
            name=c.name,
            action=c.action,
            outcome=Outcome.FAILED,
            reason=_reason(breaking[c.name]),
        )
        for c in chosen.changes
        if c.name in breaking and c.action.writes
    )
    return replace(chosen, changes=kept, violations=violations), held


def _reason(violations: Sequence[Violation]) -> str:
    said = "; ".join(f"policy '{v.policy}': {v.message}" for v in violations)
    return f"not written: it breaks {said} (fix the connector or the policy in cxrecon.yaml)"
