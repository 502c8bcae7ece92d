"""`cxrecon validate`'s policy check: the `policies:` that can be judged offline, over each
environment's desired connectors; rules reading `current` or `change` are listed as skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from reconciler.celpolicy.evaluate import Violation, check_desired, skipped_offline
from reconciler.config.project import EnvironmentConfig, Project
from reconciler.load.desired import LoadResult, load_desired
from reconciler.model import Diagnostic


def check(
    project: Project,
    target: Path,
    result: LoadResult,
    env: EnvironmentConfig | None,
    others: Sequence[EnvironmentConfig],
) -> tuple[Violation, ...]:
    """Violations over `result` (the environment it was loaded for) and, when validating
    every environment, over each other environment's connectors (its vars and overrides)."""
    rules = project.cel_policies.rules
    if not rules or not result.ok:
        return ()
    label = env.name if env is not None else result.environment
    out = list(
        check_desired(rules, result.connectors, environment=label, project=project.project_id or "")
    )
    for other in others:
        if other.name == label:
            continue  # checked above (also when no -e chose it: the default environment)
        loaded = load_desired(target, other, project=project)
        if loaded.ok:
            out.extend(
                check_desired(
                    rules,
                    loaded.connectors,
                    environment=other.name,
                    project=project.project_id or "",
                )
            )
    return tuple(out)


RULE: Final = "policy"


def summary(violations: Sequence[Violation]) -> str:
    """What the summary line adds for policies ("" when none is broken)."""
    if not violations:
        return ""
    errors = sum(1 for v in violations if v.severity == "error")
    warnings = len(violations) - errors
    verdict = "; the desired state breaks its policies" if errors else ""
    return f"; policies: {errors} error(s), {warnings} warning(s){verdict}"


def skipped_notes(project: Project) -> list[str]:
    """A line per rule validate cannot check offline."""
    return [
        f"note: policy '{r.name}' is checked by plan and apply only (it reads "
        f"{' and '.join(sorted(r.reads & {'current', 'change'}))})"
        for r in skipped_offline(project.cel_policies.rules)
    ]


def as_diagnostics(violations: Sequence[Violation]) -> list[Diagnostic]:
    """The violations as the diagnostics GitHub annotations are made from."""
    return [
        Diagnostic(
            v.severity, f"policy '{v.policy}': {v.connector}: {v.message}", v.location, "policy"
        )
        for v in violations
    ]


def as_json(project: Project, violations: Sequence[Violation]) -> dict[str, Any]:
    return {
        "errors": sum(1 for v in violations if v.severity == "error"),
        "warnings": sum(1 for v in violations if v.severity == "warning"),
        "violations": [v.as_json() for v in violations],
        "skipped": [
            {
                "policy": r.name,
                "reason": f"reads {' and '.join(sorted(r.reads & {'current', 'change'}))} "
                "(only a plan knows it)",
            }
            for r in skipped_offline(project.cel_policies.rules)
        ],
    }
