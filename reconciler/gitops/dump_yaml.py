"""One connector as the text of a connector file: keys in the schema's order, credentials
as the references a dump hands out, comments where the user must act, and nothing the
project's ignoreDifferences rules leave to CXone (unless the schema requires it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final

from reconciler.documents.yamlwrite import escape_literal, yaml_scalar
from reconciler.gitops.dump_names import Reference, credential_keys
from reconciler.model import CONNECTOR_FIELDS, DEFAULT_SYNC_SETTINGS, MAPPING_FIELDS, ConnectorSpec
from reconciler.plan.essence import is_owned_label

#: Where SCHEMA_REF points from a connectors/ folder; see reconciler.gitops.dump.
SCHEMA_REF: Final = "../schemas/connector.schema.json"
ENV_EXAMPLE: Final = ".env.example"
_REQUIRED_MAPPING_KEYS: Final = frozenset({"cxoneField", "crmField", "direction"})
#: A field path (in the plan's parts: ("mappings", CXONE_FIELD, "transformation")) that is
#: left out of the file.
LeaveOut = Callable[[tuple[str, ...]], bool]


def _nothing(parts: tuple[str, ...]) -> bool:
    return False


def render_connector(
    spec: ConnectorSpec,
    refs: Mapping[str, Reference],
    *,
    schema_ref: str = SCHEMA_REF,
    header: Sequence[str] = (),
    lifecycle: str | None = None,
    lifecycle_note: str | None = None,
    leave_out: LeaveOut = _nothing,
) -> str:
    """One connector file, keys in the schema's order; `refs` replace credential values.
    Optional fields `leave_out` names are not written (required ones always are)."""
    # Each top-level key's lines; emitted in CONNECTOR_FIELDS order, absent keys left out.
    parts: dict[str, list[str]] = {"name": [f"name: {yaml_scalar(spec.name)}"]}
    if spec.description is not None and not leave_out(("description",)):
        parts["description"] = [f"description: {_literal(spec.description)}"]
    parts["lifecycleStatus"] = [f"# {lifecycle_note}"] if lifecycle_note else []
    parts["lifecycleStatus"].append(
        f"lifecycleStatus: {yaml_scalar(lifecycle or spec.lifecycle_status)}"
    )
    parts["connectorType"] = [f"connectorType: {yaml_scalar(spec.connector_type)}"]
    parts["endpointUrl"] = [f"endpointUrl: {_literal(spec.endpoint_url)}"]
    parts["authentication"] = _authentication_lines(spec, refs)
    parts["mappings"] = _mapping_lines(spec, leave_out)
    if spec.sync_settings is not None:
        defaults = DEFAULT_SYNC_SETTINGS.to_api()
        changed = {
            k: v
            for k, v in spec.sync_settings.to_api().items()
            if defaults[k] != v and not leave_out(("syncSettings", k))
        }
        if changed:
            parts["syncSettings"] = ["syncSettings:", *(f"  {k}: {v}" for k, v in changed.items())]
    if not leave_out(("version",)):
        parts["version"] = [f"version: {yaml_scalar(spec.version)}"]
    labels = {
        k: v
        for k, v in sorted(spec.labels.items())
        if not is_owned_label(k) and not leave_out(("labels", k))
    }
    if labels:
        parts["labels"] = [
            "labels:",
            *(f"  {yaml_scalar(k)}: {_literal(v)}" for k, v in labels.items()),
        ]
    out = [f"# yaml-language-server: $schema={schema_ref}"]
    out += [f"# {line}" for line in header]
    for key in CONNECTOR_FIELDS:
        out += parts.get(key, ())
    return "\n".join(out) + "\n"


def _authentication_lines(spec: ConnectorSpec, refs: Mapping[str, Reference]) -> list[str]:
    auth = spec.authentication
    out = ["authentication:", f"  type: {yaml_scalar(auth.type)}"]
    keys = credential_keys(auth.type, auth.credentials)
    if not keys:
        out.append("  credentials: {}")
        return out
    if any(k in refs for k in keys):
        out.append("  # CXone never returns secret credentials: set these variables (listed in")
        out.append(f"  # {ENV_EXAMPLE}) before `cxrecon apply` writes the credentials.")
    out.append("  credentials:")
    for key in keys:
        ref = refs.get(key)
        value = ref.text if ref is not None else _literal(auth.credentials[key])
        out.append(f"    {yaml_scalar(key)}: {value}")
    return out


def _mapping_lines(spec: ConnectorSpec, leave_out: LeaveOut) -> list[str]:
    out = ["mappings:"]
    for m in spec.mappings:
        where = ("mappings", m.cxone_field)
        if leave_out(where):
            continue
        values = m.to_api()
        present = [
            key
            for key in MAPPING_FIELDS
            if key in values and (key in _REQUIRED_MAPPING_KEYS or not leave_out((*where, key)))
        ]
        for i, key in enumerate(present):
            out.append(f"{'  - ' if i == 0 else '    '}{key}: {_literal(values[key])}")
    return out if len(out) > 1 else ["mappings: []"]


def _literal(value: str) -> str:
    return yaml_scalar(escape_literal(value))
