"""How `cxrecon validate` shows its policy check (reconciler.facade.validating): the summary
line's part, a note per rule only a plan can judge, annotations, the JSON object."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.model import Diagnostic

if TYPE_CHECKING:
    from reconciler.facade.validating import Validation


def summary(checked: Validation) -> str:
    """What the summary line adds for policies ("" when none is broken)."""
    violations = checked.violations
    if not violations:
        return ""
    errors = sum(1 for v in violations if v.severity == "error")
    warnings = len(violations) - errors
    verdict = "; the desired state breaks its policies" if errors else ""
    return f"; policies: {errors} error(s), {warnings} warning(s){verdict}"


def skipped_notes(checked: Validation) -> list[str]:
    """A line per rule validate cannot check offline."""
    return [
        f"note: policy '{r.name}' is checked by plan and apply only (it reads "
        f"{' and '.join(sorted(r.reads & {'current', 'change'}))})"
        for r in checked.skipped
    ]


def as_diagnostics(checked: Validation) -> list[Diagnostic]:
    """The violations as the diagnostics GitHub annotations are made from."""
    return [
        Diagnostic(
            v.severity, f"policy '{v.policy}': {v.connector}: {v.message}", v.location, "policy"
        )
        for v in checked.violations
    ]


def as_json(checked: Validation) -> dict[str, Any]:
    violations = checked.violations
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
            for r in checked.skipped
        ],
    }
