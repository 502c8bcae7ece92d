"""What the plan renderers share: action symbols, the headline of a change, and the short
description of a connector to create. (Value formatting and the secret mask every output
goes through live with the field changes, in reconciler.plan.diff.)"""

from __future__ import annotations

from typing import Final

from reconciler.plan.changes import Action, ConnectorChange
from reconciler.plan.diff import format_value

SYMBOLS: Final = {
    Action.ERROR: "!",
    Action.CREATE: "+",
    Action.RENAME: "~",
    Action.ADOPT: "&",
    Action.UPDATE: "~",
    Action.ACTIVATE: "^",
    Action.DEACTIVATE: "v",
    Action.ORPHAN: "?",
    Action.OBSERVE: "o",
    Action.NOOP: "=",
}


def headline(change: ConnectorChange) -> str:
    """`update crm-b (ACTIVE → INACTIVE) [drift]` — the action, name and the key facts."""
    text = f"{change.action.value} {change.name}"
    if change.transition is not None:
        text += f" ({change.transition[0]} → {change.transition[1]})"
    if change.orphaned:
        text += " [orphaned: not in git]"
    if change.rename_from is not None:
        text += f" (from {change.rename_from})"
    if change.previous_owner is not None:
        text += f" [taken over from project {change.previous_owner}]"
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
