"""The connector "essence": the one normalized form that both the diff and the API bodies use.

Server-managed fields are dropped, defaults filled, mappings keyed by `cxoneField`,
cxrecon's own labels set apart, non-secret credentials kept as they are and every credential
value that cannot be compared (a secret, a reference, a value the server masked) masked.

Why one form for both: a field the diff ignores can then never be sent, and whatever
the plan shows is exactly what apply writes (a POST body or an RFC 7396 merge-patch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypedDict

from reconciler.hashing import canonical_json, sha256_b64, sha256_prefixed
from reconciler.load.references import is_secret_reference
from reconciler.model import (
    DEFAULT_SYNC_SETTINGS,
    LABEL_APPLIED_DIGEST,
    LABEL_MANAGED_BY,
    LABEL_PREFIX,
    ConnectorSpec,
)
from reconciler.secret import MASK, is_masked_field, is_server_mask

#: Top-level essence keys, in the order they are shown and digested ("sections").
SECTIONS: Final = (
    "description",
    "connectorType",
    "endpointUrl",
    "lifecycleStatus",
    "version",
    "syncSettings",
    "mappings",
    "authentication",
    "labels",
)

#: Sections a field PATCH never carries: the lifecycle moves in its own step, the type is
#: immutable.
NOT_PATCHED: Final = frozenset({"lifecycleStatus", "connectorType"})


class SyncSettingsDoc(TypedDict):
    batchSize: int
    retryAttempts: int
    syncIntervalMinutes: int


class MappingDoc(TypedDict, total=False):
    crmField: str
    direction: str
    transformation: str


class AuthenticationDoc(TypedDict):
    type: str
    credentials: dict[str, str]  # key → the value (not secret), or MASK (see credential_value)


class EssenceDoc(TypedDict):
    """The comparable, JSON-compatible document; its keys are SECTIONS."""

    description: str | None
    connectorType: str
    endpointUrl: str
    lifecycleStatus: str
    version: str
    syncSettings: SyncSettingsDoc
    mappings: dict[str, MappingDoc]  # cxoneField → the rest of the mapping
    authentication: AuthenticationDoc
    labels: dict[str, str]  # user labels only


@dataclass(frozen=True, slots=True)
class Essence:
    """A connector's meaningful state. `doc` is what users see diffed; `owned_labels`
    are cxrecon's bookkeeping labels (managed-by, cxrecon.io/*), managed by plan/apply."""

    name: str
    doc: EssenceDoc
    owned_labels: Mapping[str, str]

    @property
    def managed(self) -> bool:
        return LABEL_MANAGED_BY in self.owned_labels

    @property
    def lifecycle(self) -> str:
        return self.doc["lifecycleStatus"]


def is_owned_label(key: str) -> bool:
    """Labels cxrecon writes for itself; kept out of the user-facing diff."""
    return key == LABEL_MANAGED_BY or key.startswith(LABEL_PREFIX)


def essence_of(spec: ConnectorSpec) -> Essence:
    """Normalize a spec from either side (desired or remote) into its essence."""
    sync = spec.sync_settings or DEFAULT_SYNC_SETTINGS
    credentials = spec.authentication.credentials
    mappings: dict[str, MappingDoc] = {}
    for m in sorted(spec.mappings, key=lambda m: m.cxone_field):
        entry: MappingDoc = {"crmField": m.crm_field, "direction": m.direction}
        if m.transformation is not None:
            entry["transformation"] = m.transformation
        mappings[m.cxone_field] = entry
    user_labels: dict[str, str] = {}
    owned: dict[str, str] = {}
    for key in sorted(spec.labels):
        (owned if is_owned_label(key) else user_labels)[key] = spec.labels[key]
    doc: EssenceDoc = {
        "description": spec.description,
        "connectorType": spec.connector_type,
        "endpointUrl": spec.endpoint_url,
        "lifecycleStatus": spec.lifecycle_status,
        "version": spec.version,
        "syncSettings": {
            "batchSize": sync.batch_size,
            "retryAttempts": sync.retry_attempts,
            "syncIntervalMinutes": sync.sync_interval_minutes,
        },
        "mappings": mappings,
        "authentication": {
            "type": spec.authentication.type,
            "credentials": {k: credential_value(k, v) for k, v in sorted(credentials.items())},
        },
        "labels": user_labels,
    }
    return Essence(name=spec.name, doc=doc, owned_labels=owned)


def credential_value(key: str, value: str) -> str:
    """A credential as an essence holds it: a value the schema does not mark secret as
    itself (CXone returns it, so both sides can be compared and shown); MASK for a secret
    (CXone never returns it), for a `${env:}` / `${file:}` reference (its value is known only
    when applying) and for a value the server masked. A masked value is compared by the
    credentials fingerprint (reconciler.plan.credentials), never by value."""
    if is_masked_field(key) or is_secret_reference(value) or is_server_mask(value):
        return MASK
    return value


def comparable(before: Essence, after: Essence) -> tuple[Essence, Essence]:
    """`before` and `after` with each credential that one side holds masked masked on the
    other side too: a value only one side knows (git writes `clientId: ${env:X}`, or the
    server masks what it could return) is left to the fingerprint, not shown as a change."""
    was, now = _credentials(before), _credentials(after)
    hidden = [k for k in was.keys() & now.keys() if (was[k] == MASK) != (now[k] == MASK)]
    if not hidden:
        return before, after
    return _masking(before, hidden), _masking(after, hidden)


def _credentials(essence: Essence) -> Mapping[str, Any]:
    # An essence made by essence_of always has them; a hand-made one (tests) may not.
    auth: Any = essence.doc.get("authentication")
    credentials = auth.get("credentials") if isinstance(auth, dict) else None
    return credentials if isinstance(credentials, dict) else {}


def _masking(essence: Essence, keys: Iterable[str]) -> Essence:
    auth = essence.doc["authentication"]
    credentials = {**auth["credentials"], **dict.fromkeys(keys, MASK)}
    doc: EssenceDoc = {**essence.doc, "authentication": {**auth, "credentials": credentials}}
    return Essence(name=essence.name, doc=doc, owned_labels=essence.owned_labels)


# --- digests -------------------------------------------------------------------


def state_hash(essence: Essence) -> str:
    """sha256 of the whole normalized state, owned labels included (saved plans pin it)."""
    payload = {"name": essence.name, "doc": essence.doc, "owned": dict(essence.owned_labels)}
    return sha256_prefixed(canonical_json(payload))


_DIGEST_VERSION: Final = "1"


def section_digests(essence: Essence) -> dict[str, str]:
    """A 4-character digest per section (24 bits: enough to tell which section moved)."""
    doc: Mapping[str, Any] = essence.doc
    return {section: sha256_b64(canonical_json(doc[section]), 3) for section in SECTIONS}


def applied_digest(essence: Essence) -> str:
    """The value of the applied-digest label: `1.<whole>.<section digests in SECTIONS order>`.

    Compact (< 63 characters) so it fits label limits; the per-section part lets a plan
    tell "changed in git" from "changed in CXone" per field section.
    """
    return _digest_label(sha256_b64(canonical_json(essence.doc), 9), section_digests(essence))


def _digest_label(whole: str, sections: Mapping[str, str]) -> str:
    """`1.<whole>.<section digests in SECTIONS order>` (AppliedDigest.parse reads it)."""
    return f"{_DIGEST_VERSION}.{whole}." + "".join(sections[s] for s in SECTIONS)


def partly_applied_digest(desired: Essence, written: Iterable[str], before: Essence) -> str:
    """The applied-digest label for a write that is not the last of its change: the
    `written` sections as git has them, every other section as the label `before` the change
    said (as found, where it had none). A run stopped after it then reads as what it is:
    the sections it wrote are applied (not drift when git is reverted), the others pending.
    The whole-state part digests the section digests (nothing compares it)."""
    prior = applied_digest_of(before)
    found = prior.sections if prior is not None else section_digests(before)
    wanted = section_digests(desired)
    done = set(written)
    parts = {s: wanted[s] if s in done else found[s] for s in SECTIONS}
    return _digest_label(sha256_b64("".join(parts[s] for s in SECTIONS).encode(), 9), parts)


@dataclass(frozen=True, slots=True)
class AppliedDigest:
    """A parsed applied-digest label."""

    whole: str
    sections: Mapping[str, str]

    @classmethod
    def parse(cls, label: str | None) -> AppliedDigest | None:
        """None for a missing or unreadable label (e.g. written by a future version)."""
        if not label:
            return None
        parts = label.split(".")
        if len(parts) != 3 or parts[0] != _DIGEST_VERSION or len(parts[2]) != 4 * len(SECTIONS):
            return None
        chunks = [parts[2][i * 4 : i * 4 + 4] for i in range(len(SECTIONS))]
        return cls(whole=parts[1], sections=dict(zip(SECTIONS, chunks, strict=True)))


def applied_digest_of(essence: Essence) -> AppliedDigest | None:
    return AppliedDigest.parse(essence.owned_labels.get(LABEL_APPLIED_DIGEST))


# --- API bodies ----------------------------------------------------------------


def _section_body(doc: EssenceDoc, section: str, credentials: Mapping[str, str] | None) -> Any:
    """One section as the API shape (mappings back to an array, credentials unmasked)."""
    if section == "mappings":
        return [{"cxoneField": key, **entry} for key, entry in doc["mappings"].items()]
    if section == "authentication":
        if credentials is None:
            raise ValueError("authentication cannot be written without its credential values")
        expected = set(doc["authentication"]["credentials"])
        if set(credentials) != expected:
            raise ValueError("credential values do not match the declared credential keys")
        return {"type": doc["authentication"]["type"], "credentials": dict(credentials)}
    value: Any = doc[section]  # type: ignore[literal-required]
    return dict(value) if isinstance(value, dict) else value


def create_body(
    desired: Essence, credentials: Mapping[str, str], owned_labels: Mapping[str, str]
) -> dict[str, Any]:
    """The POST body: always created as DRAFT (the lifecycle moves in a later step).

    `credentials` are the resolved values (the caller resolves references right before
    sending); `owned_labels` are cxrecon's labels to stamp (managed-by, digests...).
    """
    body: dict[str, Any] = {"name": desired.name}
    for section in SECTIONS:
        value = _section_body(desired.doc, section, credentials)
        if section == "description" and value is None:
            continue
        body[section] = value
    body["lifecycleStatus"] = "DRAFT"
    body["labels"] = {**desired.doc["labels"], **owned_labels}
    return body


def changed_sections(before: Essence, after: Essence) -> tuple[str, ...]:
    """Sections whose content differs, in SECTIONS order (credentials as `comparable` says)."""
    if before.doc == after.doc:
        return ()
    before, after = comparable(before, after)
    b: Mapping[str, Any] = before.doc
    a: Mapping[str, Any] = after.doc
    return tuple(s for s in SECTIONS if b[s] != a[s])


def _merge_patch(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7396: changed/added keys with their value, removed keys as null."""
    patch: dict[str, Any] = {k: None for k in before if k not in after}
    patch.update({k: v for k, v in after.items() if before.get(k) != v})
    return patch


def patch_body(
    before: Essence,
    after: Essence,
    *,
    sections: tuple[str, ...],
    credentials: Mapping[str, str] | None = None,
    owned_labels: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """The merge-patch body for `sections` (from `changed_sections`), built from `after`.

    Objects are merge-patched (a removed label or description becomes null); mappings are
    sent whole as an array; authentication is sent whole with `credentials` (write-only, so
    it is always all or nothing), and every credential key git no longer has as null.
    `owned_labels` adds/removes (None) cxrecon's labels.
    """
    body: dict[str, Any] = {}
    for section in sections:
        if section in NOT_PATCHED:
            continue
        if section == "syncSettings":
            body[section] = _merge_patch(before.doc["syncSettings"], after.doc["syncSettings"])
        elif section == "labels":
            body[section] = _merge_patch(before.doc["labels"], after.doc["labels"])
        elif section == "authentication":
            auth = _section_body(after.doc, section, credentials)
            # A merge patch keeps keys it does not mention: a key git removed (or the old
            # auth type's keys) must be sent as null, or it stays on the server for good.
            gone = set(before.doc["authentication"]["credentials"]) - set(auth["credentials"])
            auth["credentials"].update(dict.fromkeys(sorted(gone)))
            body[section] = auth
        else:
            body[section] = _section_body(after.doc, section, credentials)
    if owned_labels:
        labels = body.setdefault("labels", {})
        labels.update(owned_labels)
    if body.get("labels") == {}:
        del body["labels"]
    return body


def transition_body(target: str) -> dict[str, Any]:
    """The lifecycle step: its own PATCH, after (or, when deactivating, before) the fields."""
    return {"lifecycleStatus": target}
