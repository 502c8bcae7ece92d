"""Turning API responses into value objects, and refusing identifiers unfit for a URL path.

Everything the server sends is checked here, at the boundary: a wrong shape becomes a
`MalformedResponse` naming the operation, never a KeyError deep in the planner.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from reconciler.cxone.bounded import MAX_JSON_DEPTH, TooDeep, load_json
from reconciler.cxone.errors import (
    QUOTE_WINDOW,
    MalformedResponse,
    UnsafeIdentifier,
    quotable_text,
    scrub,
    shown_header,
)
from reconciler.model import SYNC_STATES, ConnectorSpec, RemoteConnector, SyncJob

MAX_ID_LENGTH: Final = 128
MAX_ETAG_LENGTH: Final = 256
#: The ETag of a connector a write answered without one, when reading it back did not
#: settle it: no conditional write is sent with it (the client refuses it as a conflict).
#: It holds spaces, so no entity tag (RFC 9110 etagc) is ever equal to it.
ETAG_UNKNOWN: Final = "unknown (not read back)"
_ID_CHARS: Final = re.compile(r"[A-Za-z0-9._:~-]+")

#: Top-level connector fields whose JSON type is checked before building the spec.
_FIELD_TYPES: Final[Mapping[str, tuple[type, ...]]] = {
    "name": (str,),
    "connectorType": (str,),
    "endpointUrl": (str,),
    "authentication": (dict,),
    "lifecycleStatus": (str,),
    "description": (str, type(None)),
    "mappings": (list,),
    "syncSettings": (dict, type(None)),
    "version": (str,),
    "labels": (dict,),
}
_REQUIRED: Final = ("id", "name", "connectorType", "endpointUrl", "authentication")


@dataclass(frozen=True)
class Origin:
    """Which call a response answered, for error messages."""

    operation: str
    method: str
    path: str
    status: int | None = None
    #: Values the request carried (token, credentials): a body quoting them is masked.
    secrets: tuple[str, ...] = field(default=(), repr=False)
    #: The server that answered (`host[:port]`), named in errors.
    host: str = ""

    def malformed(self, what: str, body: str = "") -> MalformedResponse:
        return MalformedResponse(
            what,
            operation=self.operation,
            method=self.method,
            path=self.path,
            status=self.status,
            body=scrub(body[:QUOTE_WINDOW], self.secrets),
            host=self.host,
        )


def unsafe_id_reason(value: str) -> str | None:
    """Why `value` must not become a URL path segment, or None when it is fine."""
    if not value:
        return "is empty"
    if len(value) > MAX_ID_LENGTH:
        return f"is longer than {MAX_ID_LENGTH} characters"
    if any(not ch.isprintable() for ch in value):
        return "contains a control character"
    if any(ch.isspace() for ch in value):
        return "contains whitespace"
    for bad in ("/", "\\", "%", "?", "#"):
        if bad in value:
            return f"contains {bad!r}"
    if value in (".", "..") or ".." in value:
        return "contains '..'"
    if not _ID_CHARS.fullmatch(value):
        return "contains characters outside letters, digits and ._:~-"
    return None


def check_id(value: object, *, what: str, origin: Origin) -> str:
    """`value` if it is a safe id string; UnsafeIdentifier (nothing sent) otherwise."""
    if not isinstance(value, str):
        raise origin.malformed(f"{what} is not a string")
    reason = unsafe_id_reason(value)
    if reason is not None:
        shown = ascii(value[:60]) + ("…" if len(value) > 60 else "")
        raise UnsafeIdentifier(
            f"{what} {shown} {reason}",
            operation=origin.operation,
            method=origin.method,
            path=origin.path,
            status=origin.status,
            host=origin.host,
        )
    return value


def json_of(response: httpx.Response, origin: Origin) -> Any:
    try:
        return load_json(response.content)
    except TooDeep:
        raise origin.malformed(
            f"the answer nests JSON deeper than {MAX_JSON_DEPTH} levels"
        ) from None
    except ValueError:  # UnicodeDecodeError included
        kind = shown_header(response, "Content-Type", "no content type")
        raise origin.malformed(
            f"the response is not JSON ({kind})", quotable_text(response)
        ) from None


def object_of(response: httpx.Response, origin: Origin) -> dict[str, Any]:
    data = json_of(response, origin)
    if not isinstance(data, dict):
        raise origin.malformed(f"expected a JSON object, got {_json_type(data)}")
    return data


def _etag(value: object, origin: Origin, *, required: bool) -> str:
    """The ETag to send back in If-Match. Without `required` (a write's answer, whose
    write landed whatever its ETag), one that is missing or unusable is `ETAG_UNKNOWN`."""
    if not isinstance(value, str) or not value.strip():
        if not required:
            return ETAG_UNKNOWN
        raise origin.malformed("the connector has no ETag (header or body)")
    if len(value) > MAX_ETAG_LENGTH or not value.isascii() or not value.isprintable():
        if not required:
            return ETAG_UNKNOWN
        raise origin.malformed("the connector's ETag cannot be sent back in If-Match")
    return value


def is_weak_etag(etag: str) -> bool:
    """`W/"…"`: an entity tag that RFC 9110's strong comparison (If-Match) never matches."""
    return etag.startswith("W/")


def connector_of(
    data: object, origin: Origin, etag_header: str | None = None, *, etag_required: bool = True
) -> RemoteConnector:
    """A RemoteConnector from one connector object (ETag from the header, else the body).
    Without `etag_required`, one with no usable ETag has the ETag `ETAG_UNKNOWN`."""
    if not isinstance(data, dict):
        raise origin.malformed(f"expected a connector object, got {_json_type(data)}")
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise origin.malformed(f"a connector lacks {', '.join(missing)}")
    connector_id = check_id(data["id"], what="connector id", origin=origin)
    for key, types in _FIELD_TYPES.items():
        if key in data and not isinstance(data[key], types):
            raise origin.malformed(
                f"connector {connector_id}: {key} is {_json_type(data[key])}, "
                f"expected {' or '.join(_JSON_NAMES.get(t, t.__name__) for t in types)}"
            )
    try:
        spec = ConnectorSpec.from_api(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        detail = f"missing {exc}" if isinstance(exc, KeyError) else type(exc).__name__
        raise origin.malformed(f"connector {connector_id} has a bad shape ({detail})") from None
    times = {}
    for key in ("createdTime", "lastModifiedTime"):
        value = data.get(key, "")
        if not isinstance(value, str):
            raise origin.malformed(f"connector {connector_id}: {key} is not a string")
        times[key] = value
    return RemoteConnector(
        id=connector_id,
        etag=_etag(etag_header or data.get("etag"), origin, required=etag_required),
        spec=spec,
        created_time=times["createdTime"],
        last_modified_time=times["lastModifiedTime"],
    )


def connector_answer(
    response: httpx.Response, origin: Origin, *, etag_required: bool = True
) -> RemoteConnector:
    """The connector an answer holds (see `connector_of` for `etag_required`)."""
    etag = response.headers.get("ETag")
    return connector_of(object_of(response, origin), origin, etag, etag_required=etag_required)


def one_connector(
    connector_id: str, *, etag_required: bool = True
) -> Callable[[httpx.Response, Origin], RemoteConnector]:
    """A parser of an answer that must hold connector `connector_id`."""

    def parse(response: httpx.Response, origin: Origin) -> RemoteConnector:
        got = connector_answer(response, origin, etag_required=etag_required)
        if got.id != connector_id:
            raise origin.malformed(f"asked for connector {connector_id}, got {got.id}")
        return got

    return parse


def sync_job_of(data: object, origin: Origin, connector_id: str) -> SyncJob:
    if not isinstance(data, dict):
        raise origin.malformed(f"expected a sync object, got {_json_type(data)}")
    sync_id = check_id(data.get("syncId"), what="syncId", origin=origin)
    status = data.get("status")
    if status not in SYNC_STATES:
        raise origin.malformed(f"sync {sync_id} has an unknown status {str(status)[:40]!r}")
    records = data.get("recordsProcessed", 0)
    if records is None:
        records = 0
    if isinstance(records, bool) or not isinstance(records, int) or records < 0:
        raise origin.malformed(f"sync {sync_id}: recordsProcessed is not a count")
    details = data.get("errorDetails")
    if details is not None and not isinstance(details, str):
        raise origin.malformed(f"sync {sync_id}: errorDetails is not a string")
    return SyncJob(
        sync_id=sync_id,
        connector_id=connector_id,
        status=str(status),
        records_processed=records,
        error_details=details,
    )


_JSON_NAMES: Final[Mapping[type, str]] = {
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    dict: "an object",
    list: "an array",
    type(None): "null",
}


def _json_type(value: object) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)
