"""What the plan renderers share: action symbols, the headline of a change, the fields a
create sets, and where each credential a change writes comes from. (Value formatting and
the secret mask every output goes through live with the field changes, in
reconciler.plan.diff.)"""

from __future__ import annotations

from typing import Final

from reconciler.plan.changes import Action, ConnectorChange
from reconciler.plan.diff import ChangeKind, FieldChange
from reconciler.plan.document import create_fields, credential_key, credential_source

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
    verb = "re-create" if change.deleted is not None else change.action.value
    text = f"{verb} {change.name}"
    if change.transition is not None:
        text += f" ({change.transition[0]} → {change.transition[1]})"
    if change.orphaned:
        text += " [orphaned: not in git]"
    if change.rename_from is not None:
        text += f" (from {change.rename_from})"
    if change.previous_owner is not None:
        text += f" [taken over from project {change.previous_owner}]"
    if change.deleted is not None:
        text += " [deleted in CXone]"
    elif change.origin is not None and change.action not in (Action.CREATE, Action.ERROR):
        text += f" [{change.origin.value}]"
    return text


def create_details(change: ConnectorChange) -> tuple[FieldChange, ...]:
    """The field lines of a change: for a create, every value it sets (Terraform's `+`
    lines, secrets masked); for any other change, its differences."""
    return create_fields(change)


def source_note(change: ConnectorChange, field: FieldChange) -> str | None:
    """For a credential field a change sets: `from ${env:NAME}` (the reference it is resolved
    from, never the value), or `value in git` for a secret written as a literal; None for
    any other field (a value that is not secret is shown itself)."""
    key = credential_key(field)
    if key is None or field.kind is ChangeKind.REMOVED:
        return None
    source = credential_source(change, key)
    if source is not None:
        return f"from {source}"
    return "value in git" if field.secret else None


def written_from(change: ConnectorChange) -> str:
    """`clientId (value in git), clientSecret ${env:SF_SECRET}`: every credential of the
    desired connector and where its value comes from."""
    if change.desired is None:
        return ""
    keys = sorted(change.desired.spec.authentication.credentials)
    return ", ".join(
        f"{key} {source}" if (source := credential_source(change, key)) else f"{key} (value in git)"
        for key in keys
    )


def credentials_line(change: ConnectorChange) -> str | None:
    """`credentials: rotated (fingerprint differs); written from …`: the verdict, and where
    the values come from when apply writes them."""
    if change.credentials is None:
        return None
    line = f"credentials: {change.credentials.describe()}"
    if change.credentials.will_write and change.action.writes:
        sources = written_from(change)
        if sources:
            line += f"; written from {sources}"
    return line
