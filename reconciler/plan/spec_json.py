"""A spec's canonical JSON text (`canonical_json(spec.to_api())`), written directly for the
desired-state digest, which encodes every declared connector on every plan.

Why not the json module: building `to_api()` dicts and encoding them took ~60 ms per 1,000
connectors (Python 3.11), a third of the diff phase of a plan where nothing changed; this
takes a third of that. Only the types a loaded spec holds (str, exact int) are written
here; any other value makes `spec_json` return None and the caller use the json module.
tests/plan/test_desired_digest.py holds both ways to the same bytes on generated specs, so
a field added to `to_api()` and not here fails there rather than changing the digest.
"""

from __future__ import annotations

from collections.abc import Mapping

# The string encoder json uses with ensure_ascii=False (the C one when available); it
# raises TypeError for anything but a str, which sends that spec to the json module.
from json.encoder import encode_basestring as _quote

from reconciler.model import ConnectorSpec, FieldMapping, SyncSettings


def spec_json(spec: ConnectorSpec) -> str | None:
    """The text of `canonical_json(spec.to_api())`, or None for a value of another type."""
    try:
        return _spec(spec)
    except TypeError:
        return None


def _spec(spec: ConnectorSpec) -> str:
    # Keys in sort_keys order, written by hand (as in _mapping and _sync): this runs for
    # every declared connector, and sorting constant keys each time cost a third of it.
    auth = spec.authentication
    description = "" if spec.description is None else f',"description":{_quote(spec.description)}'
    sync = "" if spec.sync_settings is None else f',"syncSettings":{_sync(spec.sync_settings)}'
    mappings = ",".join([_mapping(m) for m in spec.mappings])
    return (
        f'{{"authentication":{{"credentials":{_strings(auth.credentials)},'
        f'"type":{_quote(auth.type)}}},"connectorType":{_quote(spec.connector_type)}'
        f'{description},"endpointUrl":{_quote(spec.endpoint_url)},'
        f'"labels":{_strings(spec.labels)},"lifecycleStatus":{_quote(spec.lifecycle_status)},'
        f'"mappings":[{mappings}],"name":{_quote(spec.name)}{sync},"version":{_quote(spec.version)}}}'
    )


def _strings(values: Mapping[str, str]) -> str:
    """An object of strings, keys sorted (they are unique, so sorting the items sorts by key)."""
    return "{" + ",".join([f"{_quote(k)}:{_quote(v)}" for k, v in sorted(values.items())]) + "}"


def _mapping(m: FieldMapping) -> str:
    # Every mapping of every connector passes here (tens of thousands per plan).
    head = (
        f'{{"crmField":{_quote(m.crm_field)},"cxoneField":{_quote(m.cxone_field)},'
        f'"direction":{_quote(m.direction)}'
    )
    if m.transformation is None:
        return head + "}"
    return f'{head},"transformation":{_quote(m.transformation)}}}'


def _sync(sync: SyncSettings) -> str:
    return (
        f'{{"batchSize":{_int(sync.batch_size)},"retryAttempts":{_int(sync.retry_attempts)},'
        f'"syncIntervalMinutes":{_int(sync.sync_interval_minutes)}}}'
    )


def _int(value: int) -> str:
    # json writes a bool (an int too) as true/false and a float its own way: those go to it.
    if type(value) is not int:
        raise TypeError(f"not an int: {type(value).__name__}")
    return str(value)
