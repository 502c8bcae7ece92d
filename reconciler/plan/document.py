"""The plan as a versioned JSON document (format version 1, `schemas/plan.schema.json`):
what `plan --format json` prints and what a saved plan embeds. Every field value passes
through the secret mask. Unchanged connectors are counted, not listed.

Also what every format shows of a change beyond its diff: the fields a create sets (one
`added` field change per leaf, as Terraform's `+` lines), where each credential a change
writes comes from (the `${env:}` / `${file:}` reference, never the value), and the
credentials git holds as a reviewed plan compares them (`credentialSpec`).
"""

from __future__ import annotations

from typing import Any, Final

from reconciler.load.references import is_secret_reference
from reconciler.plan.changes import Action, ConnectorChange, Plan
from reconciler.plan.credentials import literal_fingerprint
from reconciler.plan.diff import ChangeKind, FieldChange, JsonValue, format_path, safe_values
from reconciler.plan.essence import SECTIONS, Essence
from reconciler.plan.setup import needed_secrets
from reconciler.secret import is_masked_field, is_secret_path


def summary_line(plan: Plan) -> str:
    """`Plan: 1 to create, 2 to update, 40 unchanged.` (zero counts left out)."""
    return plan.summary_text


FORMAT_VERSION: Final = 1


def create_fields(change: ConnectorChange) -> tuple[FieldChange, ...]:
    """Every value a create sets, one `added` field change per leaf (before: None), in the
    order of the connector file's sections; the change's own fields for anything else.
    Server defaults the create will get (syncSettings) are included: it is what CXone holds
    afterwards. Absent values (no description, no labels) are left out."""
    essence = change.desired_essence
    if change.action is not Action.CREATE or essence is None:
        return change.fields
    return every_value(essence)


def every_value(essence: Essence) -> tuple[FieldChange, ...]:
    """Each value `essence` holds as an `added` field change from nothing, one per leaf, in
    the order of the connector file's sections (what a create sets, or what another writer
    set on a connector cxrecon found already made)."""
    found: list[FieldChange] = []
    for section in SECTIONS:
        _leaves((section,), essence.doc[section], found)
    return tuple(found)


def _leaves(parts: tuple[str, ...], value: Any, out: list[FieldChange]) -> None:
    if value is None or (parts == ("labels",) and not value):
        return
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _leaves((*parts, str(key)), item, out)
        return
    after: JsonValue = value
    out.append(
        FieldChange(
            path=format_path(parts),
            parts=parts,
            kind=ChangeKind.ADDED,
            before=None,
            after=after,
            secret=is_secret_path(parts),
        )
    )


def credential_source(change: ConnectorChange, key: str) -> str | None:
    """The `${env:}` / `${file:}` reference a credential of `change` comes from, or None for
    a value written in git (also one a `${var:}` put there)."""
    if change.desired is None:
        return None
    value = change.desired.spec.authentication.credentials.get(key)
    return value if value is not None and is_secret_reference(value) else None


def credential_spec(change: ConnectorChange) -> dict[str, dict[str, str]] | None:
    """Every credential git holds for `change`'s connector, as a reviewed plan compares it:
    `{"value": V}` for a value that is not secret (shown in clear anyway), `{"reference":
    "${env:A}"}` for a reference (secret or not: which secret, never its value) and
    `{"fingerprint": F}` for a literal secret (salted and slow, never the value). None for a
    change without a desired connector (an orphan)."""
    if change.desired is None:
        return None
    spec: dict[str, dict[str, str]] = {}
    for key, value in sorted(change.desired.spec.authentication.credentials.items()):
        if is_secret_reference(value):
            spec[key] = {"reference": value}
        elif is_masked_field(key):
            spec[key] = {"fingerprint": literal_fingerprint(value)}
        else:
            spec[key] = {"value": value}
    return spec


def credential_key(field: FieldChange) -> str | None:
    """The credential key `field` is about (`authentication.credentials[KEY]`), or None."""
    parts = field.parts
    if len(parts) == 3 and parts[:2] == ("authentication", "credentials"):
        return parts[2]
    return None


def change_document(change: ConnectorChange) -> dict[str, Any]:
    """One connector's change; every value passes through the secret mask."""
    fields = []
    for field in create_fields(change):
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
        key = credential_key(field)
        if key is not None:
            fields[-1]["source"] = credential_source(change, key)
    return {
        "name": change.name,
        "action": change.action.value,
        "id": change.remote.id if change.remote else None,
        "etag": change.remote.etag if change.remote else None,
        "origin": change.origin.value if change.origin else None,
        "orphaned": change.orphaned,
        "previousOwner": change.previous_owner,
        "renamedFrom": change.rename_from,
        "deletedInCxone": (
            None
            if change.deleted is None
            else {
                "id": change.deleted.connector_id,
                "lastApplied": change.deleted.time,
                "source": change.deleted.source,
            }
        ),
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
        "credentialSpec": credential_spec(change),
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
        "project": plan.project,
        "desiredDigest": plan.desired_digest,
        "prune": plan.prune,
        "summaryText": summary_line(plan),
        "summary": {action.value: plan.summary[action] for action in Action},
        "hasChanges": plan.has_changes,
        "hasErrors": plan.has_errors,
        "ignored": plan.ignored,
        "ignoredFields": plan.ignored_fields,
        "deletedInCxone": len(plan.deleted),
        "safety": {
            "over": safety.over,
            "reasons": list(safety.reasons),
            "managed": safety.managed,
            "modified": safety.modified,
            "maxChangeFraction": safety.max_change_fraction,
            "minManaged": safety.min_managed,
        },
        "changes": [change_document(c) for c in plan.changed()],
        # The references the apply resolves (reconciler.plan.setup): the setup a merge needs.
        "secretsNeeded": [n.as_json() for n in needed_secrets(plan)],
        "policy": {
            "errors": sum(1 for v in plan.violations if v.severity == "error"),
            "warnings": sum(1 for v in plan.violations if v.severity == "warning"),
            "violations": [v.as_json() for v in plan.violations],
        },
    }
