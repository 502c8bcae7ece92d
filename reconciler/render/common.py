"""What every plan renderer shares: action symbols, the summary sentence, value formatting
and the last line of defence that masks secret-bearing paths."""

from __future__ import annotations

import json
from typing import Final

from reconciler.plan.changes import Action, ConnectorChange, Plan
from reconciler.plan.diff import FieldChange, JsonValue, is_secret_path
from reconciler.plan.essence import CREDENTIAL_MASK

SYMBOLS: Final = {
    Action.ERROR: "!",
    Action.CREATE: "+",
    Action.ADOPT: "&",
    Action.UPDATE: "~",
    Action.ACTIVATE: "^",
    Action.DEACTIVATE: "v",
    Action.ORPHAN: "?",
    Action.NOOP: "=",
}

_PHRASES: Final = {
    Action.CREATE: "to create",
    Action.ADOPT: "to adopt",
    Action.UPDATE: "to update",
    Action.ACTIVATE: "to activate",
    Action.DEACTIVATE: "to deactivate",
    Action.ORPHAN: "orphaned",
    Action.ERROR: "in error",
    Action.NOOP: "unchanged",
}

MAX_VALUE_CHARS: Final = 200


def summary_line(plan: Plan) -> str:
    """`Plan: 1 to create, 2 to update, 40 unchanged.` (zero counts left out)."""
    counts = plan.summary
    parts = [f"{counts[a]} {_PHRASES[a]}" for a in Action if counts[a] and a is not Action.NOOP]
    parts.append(f"{counts[Action.NOOP]} unchanged")
    text = "Plan: " + ", ".join(parts) + "."
    if not plan.has_changes and not plan.has_errors:
        text = "No changes. " + text
    return text


def format_value(value: JsonValue, limit: int = MAX_VALUE_CHARS) -> str:
    """Compact JSON, shortened past `limit` characters; None reads as `(absent)`."""
    if value is None:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def safe_values(field: FieldChange) -> tuple[JsonValue, JsonValue]:
    """(before, after), masked when the path is secret-bearing — whatever the diff said."""
    if field.secret or is_secret_path(field.parts):
        return _mask(field.before), _mask(field.after)
    return field.before, field.after


def _mask(value: JsonValue) -> JsonValue:
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: CREDENTIAL_MASK for k in value}
    return CREDENTIAL_MASK


def headline(change: ConnectorChange) -> str:
    """`update crm-b (ACTIVE → INACTIVE) [drift]` — the action, name and the key facts."""
    text = f"{change.action.value} {change.name}"
    if change.transition is not None:
        text += f" ({change.transition[0]} → {change.transition[1]})"
    if change.orphaned:
        text += " [orphaned: not in git]"
    if change.origin is not None and change.action not in (Action.CREATE, Action.ERROR):
        text += f" [{change.origin.value}]"
    return text


def create_details(change: ConnectorChange) -> list[str]:
    """What a new connector will look like, in a few lines (its full body is in git)."""
    essence = change.desired_essence
    if essence is None:
        return []
    doc = essence.doc
    lines = [
        f"connectorType: {doc['connectorType']}",
        f"endpointUrl: {doc['endpointUrl']}",
        f"authentication: {doc['authentication']['type']} "
        f"(credentials: {', '.join(doc['authentication']['credentials']) or 'none'})",
        f"mappings: {len(doc['mappings'])}",
    ]
    if doc["labels"]:
        lines.append(f"labels: {format_value(dict(doc['labels']))}")
    return lines


def credentials_line(change: ConnectorChange) -> str | None:
    if change.credentials is None:
        return None
    return f"credentials: {change.credentials.describe()}"
