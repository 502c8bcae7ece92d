"""What cxrecon's GitHub workflows need beyond one-line commands: sticky plan comments,
drift issues, job summaries and outputs, driven through the `gh` CLI (`cxrecon github …`).

    actions       the runner's environment: event payload, outputs, job summary, annotations
    outcome       cxrecon exit codes → what a workflow reports (plan, drift, apply)
    gh            typed GitHub REST calls through the `gh` CLI (no tokens handled here)
    plan_comment  one PR comment per environment, found by a hidden marker, updated in place
    drift_issue   one issue per environment: opened on drift, updated, closed when clean

Other packages import only the modules `__all__` names; the rest are this package's own.
"""

from __future__ import annotations

__all__ = [
    "actions",
    "audit_history",
    "drift_issue",
    "gh",
    "outcome",
    "plan_comment",
    "reviewed_plan",
]
