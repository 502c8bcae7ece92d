"""The plan as a versioned JSON document (format version 1, `schemas/plan.schema.json`):
what `plan --format json` prints and what a saved plan embeds. Every field value passes
through the secret mask. Unchanged connectors are counted, not listed."""

from __future__ import annotations

from typing import Any, Final

from reconciler.plan.changes import Action, ConnectorChange, Plan
from reconciler.plan.diff import safe_values


def summary_line(plan: Plan) -> str:
    """`Plan: 1 to create, 2 to update, 40 unchanged.` (zero counts left out)."""
    return plan.summary_text


FORMAT_VERSION: Final = 1


def change_document(change: ConnectorChange) -> dict[str, Any]:
    """One connector's change; every value passes through the secret mask."""
    fields = []
    for field in change.fields:
        before, after = safe_values(field)
        fields.append(
            {
                "path": field.path,
                "kind": field.kind.value,
                "before": before,
                "after": after,
                "origin": field.origin.value if field.origin else None,
                "secret": field.secret,
                "override": change.from_override(field),
            }
        )
    return {
        "name": change.name,
        "action": change.action.value,
        "id": change.remote.id if change.remote else None,
        "etag": change.remote.etag if change.remote else None,
        "origin": change.origin.value if change.origin else None,
        "orphaned": change.orphaned,
        "previousOwner": change.previous_owner,
        "renamedFrom": change.rename_from,
        "note": change.note,
        "transition": (
            {"from": change.transition[0], "to": change.transition[1]}
            if change.transition
            else None
        ),
        "credentials": (
            {"status": change.credentials.status.value, "reason": change.credentials.reason.value}
            if change.credentials
            else None
        ),
        "steps": [
            {"kind": s.kind.value, "sections": list(s.sections), "target": s.target}
            for s in change.steps
        ],
        "problems": list(change.problems),
        "fields": fields,
        "source": str(change.desired.source) if change.desired else None,
    }


def plan_document(plan: Plan) -> dict[str, Any]:
    """The whole plan as a JSON-compatible dict (format version 1)."""
    safety = plan.safety
    return {
        "formatVersion": FORMAT_VERSION,
        "environment": plan.environment,
        "desiredDigest": plan.desired_digest,
        "prune": plan.prune,
        "summaryText": summary_line(plan),
        "summary": {action.value: plan.summary[action] for action in Action},
        "hasChanges": plan.has_changes,
        "hasErrors": plan.has_errors,
        "ignored": plan.ignored,
        "ignoredFields": plan.ignored_fields,
        "safety": {
            "over": safety.over,
            "reasons": list(safety.reasons),
            "managed": safety.managed,
            "modified": safety.modified,
            "maxChangeFraction": safety.max_change_fraction,
            "minManaged": safety.min_managed,
        },
        "changes": [change_document(c) for c in plan.changed()],
    }
