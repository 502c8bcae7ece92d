"""Value objects passed between the stages of the flow (load → normalize → diff → plan → apply).

A connector is the seed's payload; `ConnectorSpec` is its typed form, with
`to_api()` / `from_api()` as the only bridge to the API's JSON shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from sys import intern
from typing import Any, Final, Literal

# --- vocabulary ------------------------------------------------------------

LIFECYCLE_STATES: Final = ("DRAFT", "ACTIVE", "INACTIVE", "ERROR")
DESIRED_LIFECYCLE_STATES: Final = ("DRAFT", "ACTIVE", "INACTIVE")
CONNECTOR_TYPES: Final = ("CUSTOM", "SALESFORCE", "DYNAMICS")
AUTH_TYPES: Final = ("BASIC", "OAUTH2", "API_KEY")
DIRECTIONS: Final = ("INBOUND", "OUTBOUND", "BIDIRECTIONAL")
SYNC_TYPES: Final = ("FULL", "INCREMENTAL")
SYNC_STATES: Final = ("PENDING", "RUNNING", "COMPLETED", "FAILED")

#: A connector's top-level fields in the order of schemas/connector.schema.json: files are
#: written, and missing keys inserted, in this order.
CONNECTOR_FIELDS: Final = (
    "name",
    "description",
    "lifecycleStatus",
    "connectorType",
    "endpointUrl",
    "authentication",
    "mappings",
    "syncSettings",
    "version",
    "labels",
)
#: A field mapping's keys, in the schema's order.
#: Keys of a connector file that are cxrecon's own, never sent to CXone (after CONNECTOR_FIELDS).
FILE_ONLY_FIELDS: Final = ("previousNames", "management")
MAPPING_FIELDS: Final = ("cxoneField", "crmField", "direction", "transformation")
#: Fields the server owns; never diffed, never written.
SERVER_MANAGED_FIELDS: Final = ("id", "etag", "createdTime", "lastModifiedTime")

#: Labels cxrecon itself writes on the connectors it manages.
LABEL_PREFIX: Final = "cxrecon.io/"
LABEL_MANAGED_BY: Final = "managed-by"
MANAGED_BY_VALUE: Final = "cxrecon"
LABEL_CREDENTIALS_FINGERPRINT: Final = LABEL_PREFIX + "credentials-fingerprint"
LABEL_APPLIED_DIGEST: Final = LABEL_PREFIX + "applied-digest"
LABEL_APPLIED_AT: Final = LABEL_PREFIX + "applied-at"
#: The project (`project:` in cxrecon.yaml) that owns a managed connector.
LABEL_PROJECT: Final = LABEL_PREFIX + "project"

#: Lifecycle transitions the API allows (docs/architecture.md). DRAFT is only a creation state.
ALLOWED_TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    "DRAFT": frozenset({"ACTIVE", "INACTIVE"}),
    "ACTIVE": frozenset({"INACTIVE"}),
    "INACTIVE": frozenset({"ACTIVE"}),
    "ERROR": frozenset({"ACTIVE", "INACTIVE"}),
}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch, as the API applies a PATCH body (the emulator) and as an
    environment's override applies to a connector file (load): objects merge key by key,
    null removes a key, anything else (arrays included) replaces the target."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- where things come from -------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """A spot in a YAML file; line and col are 1-based, as editors show them."""

    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding of validation: a schema violation, a lint rule, a YAML problem."""

    severity: Severity
    message: str
    location: SourceLocation | None
    rule: str

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.severity}: {self.message} [{self.rule}]"


# --- the connector ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncSettings:
    batch_size: int = 500
    retry_attempts: int = 3
    sync_interval_minutes: int = 15

    def to_api(self) -> dict[str, int]:
        return {
            "batchSize": self.batch_size,
            "retryAttempts": self.retry_attempts,
            "syncIntervalMinutes": self.sync_interval_minutes,
        }

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> SyncSettings:
        default = DEFAULT_SYNC_SETTINGS
        return cls(
            batch_size=int(data.get("batchSize", default.batch_size)),
            retry_attempts=int(data.get("retryAttempts", default.retry_attempts)),
            sync_interval_minutes=int(
                data.get("syncIntervalMinutes", default.sync_interval_minutes)
            ),
        )


#: What the server fills in when syncSettings (or one of its keys) is omitted.
DEFAULT_SYNC_SETTINGS: Final = SyncSettings()


@dataclass(frozen=True, slots=True)
class FieldMapping:
    cxone_field: str
    crm_field: str
    direction: str
    transformation: str | None = None

    def to_api(self) -> dict[str, str]:
        out = {
            "cxoneField": self.cxone_field,
            "crmField": self.crm_field,
            "direction": self.direction,
        }
        if self.transformation is not None:
            out["transformation"] = self.transformation
        return out

    def __reduce__(self) -> tuple[Any, tuple[str, str, str, str | None]]:
        # Unpickled (or deep-copied) as the one shared object, too.
        return shared_mapping, (
            self.cxone_field,
            self.crm_field,
            self.direction,
            self.transformation,
        )

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> FieldMapping:
        transformation = data.get("transformation")
        return shared_mapping(
            str(data["cxoneField"]),
            str(data["crmField"]),
            str(data["direction"]),
            None if transformation is None else str(transformation),
        )


@lru_cache(maxsize=1 << 16)
def shared_mapping(
    cxone_field: str, crm_field: str, direction: str, transformation: str | None
) -> FieldMapping:
    """The FieldMapping of these values, one object for equal ones: connectors repeat their
    CRM's mappings (10,000 connectors × 20 mappings held 200,000 copies of a few hundred),
    and git's and CXone's equal mappings then compare by identity. Immutable, so sharing
    is safe; bounded, so a long-running controller keeps at most 65,536."""
    return FieldMapping(
        intern(cxone_field),
        intern(crm_field),
        intern(direction),
        None if transformation is None else intern(transformation),
    )


@dataclass(frozen=True, slots=True)
class Authentication:
    """Auth settings. In desired state, secret-bearing credential values are
    references (`${env:NAME}`, `${file:PATH}`); from the API they come masked."""

    type: str
    # Out of the repr: values are resolved secrets in an apply's request bodies, and a
    # server that forgets to mask them would hand them back here.
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)

    def to_api(self) -> dict[str, Any]:
        return {"type": self.type, "credentials": dict(self.credentials)}

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Authentication:
        creds = data.get("credentials") or {}
        return cls(type=str(data["type"]), credentials={str(k): str(v) for k, v in creds.items()})


@dataclass(frozen=True, slots=True)
class ConnectorSpec:
    """A connector's configuration as the API knows it, without server-managed fields.

    `sync_settings is None` means "omitted" (the server's defaults apply).
    """

    name: str
    connector_type: str
    endpoint_url: str
    authentication: Authentication
    lifecycle_status: str = "DRAFT"
    description: str | None = None
    mappings: tuple[FieldMapping, ...] = ()
    sync_settings: SyncSettings | None = None
    version: str = "1.0.0"
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        """The JSON body the API accepts (POST shape; merge-patch bodies are built from it)."""
        out: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            out["description"] = self.description
        out["lifecycleStatus"] = self.lifecycle_status
        out["connectorType"] = self.connector_type
        out["endpointUrl"] = self.endpoint_url
        out["authentication"] = self.authentication.to_api()
        out["mappings"] = [m.to_api() for m in self.mappings]
        if self.sync_settings is not None:
            out["syncSettings"] = self.sync_settings.to_api()
        out["version"] = self.version
        out["labels"] = dict(self.labels)
        return out

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ConnectorSpec:
        """Build from a JSON object; raises KeyError/TypeError/ValueError on a bad shape
        (callers turn that into an error naming the operation)."""
        sync = data.get("syncSettings")
        description = data.get("description")
        labels = data.get("labels") or {}
        return cls(
            name=str(data["name"]),
            description=None if description is None else str(description),
            lifecycle_status=str(data.get("lifecycleStatus", "DRAFT")),
            connector_type=str(data["connectorType"]),
            endpoint_url=str(data["endpointUrl"]),
            authentication=Authentication.from_api(data["authentication"]),
            mappings=tuple(FieldMapping.from_api(m) for m in data.get("mappings") or ()),
            sync_settings=None if sync is None else SyncSettings.from_api(sync),
            version=str(data.get("version", "1.0.0")),
            labels={str(k): str(v) for k, v in labels.items()},
        )


@dataclass(frozen=True, slots=True)
class DesiredConnector:
    """A connector as declared in git, after `${var:}` substitution (secrets stay references).

    `locations` maps a path inside the document (a tuple of keys and indexes,
    e.g. ("mappings", 2, "direction")) to where its value is written.
    """

    spec: ConnectorSpec
    source: SourceLocation
    locations: Mapping[tuple[str | int, ...], SourceLocation] = field(default_factory=dict)
    #: `management:` in the file: full, observe or create-only (cxrecon.yaml may override).
    management: str = "full"
    #: `previousNames:`: names this connector had in CXone (a rename in git).
    previous_names: tuple[str, ...] = ()
    #: Field paths an environment override (cxrecon.yaml) set, for the plan to mark.
    overridden: tuple[tuple[str, ...], ...] = ()

    @property
    def name(self) -> str:
        return self.spec.name

    def location_of(self, *path: str | int) -> SourceLocation:
        """The closest recorded location for `path` (falls back to its parents)."""
        key = tuple(path)
        while key:
            found = self.locations.get(key)
            if found is not None:
                return found
            key = key[:-1]
        return self.source


@dataclass(frozen=True, slots=True)
class RemoteConnector:
    """A connector as the tenant has it, with its server-managed fields kept apart."""

    id: str
    etag: str
    spec: ConnectorSpec
    created_time: str = ""
    last_modified_time: str = ""

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True, slots=True)
class SyncJob:
    """A CRM data-sync job (the seed's `/sync` endpoints)."""

    sync_id: str
    connector_id: str
    status: str
    records_processed: int = 0
    error_details: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("COMPLETED", "FAILED")
