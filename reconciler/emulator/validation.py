"""Strict checks of the documents a client sends: a connector (create, PATCH merge) and a sync
request; JSON parsing and the other parameters are reconciler.emulator.request_checks.

Bad input is a 400/422 `ApiProblem` naming the field; it never reaches the store and
never ends in a 500. The rules match `schemas/cxone-api.openapi.yaml` (ConnectorWrite) and
`schemas/connector.schema.json`: tests/emulator/test_schema_agreement.py proves over
generated documents that this module and the published schema take the same connectors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any, Final

from reconciler.emulator.problem import ApiProblem, Detail, validation_failed
from reconciler.model import (
    AUTH_TYPES,
    CONNECTOR_FIELDS,
    CONNECTOR_TYPES,
    DIRECTIONS,
    LIFECYCLE_STATES,
    MAPPING_FIELDS,
    SERVER_MANAGED_FIELDS,
    SYNC_TYPES,
)

#: A validated connector JSON object (the API's shape, see ConnectorSpec.to_api).
Document = dict[str, Any]

MASK: Final = "********"
NAME_MAX: Final = 200
DESCRIPTION_MAX: Final = 2000
URL_MAX: Final = 2048
FIELD_MAX: Final = 256
TRANSFORMATION_MAX: Final = 1024
MAPPINGS_MAX: Final = 500
LABELS_MAX: Final = 64
LABEL_VALUE_MAX: Final = 1024
CREDENTIALS_MAX: Final = 32
CREDENTIAL_VALUE_MAX: Final = 4096

# Patterns are applied with fullmatch (a trailing newline never slips through `$`); the
# OpenAPI document states the same ones, anchored.
NO_CONTROL = re.compile(r"[^\x00-\x1f\x7f]+")
VERSION = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+")
LABEL_KEY = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._/-]{0,251}[A-Za-z0-9])?")
PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
ENDPOINT_URL = re.compile(
    r"https?://[A-Za-z0-9][A-Za-z0-9.-]{0,252}(:" + PORT + r")?([/?#][^\x00-\x20\x7f]*)?"
)

REQUIRED: Final = ("name", "connectorType", "endpointUrl", "authentication")
SYNC_SETTING_RANGES: Final = {
    "batchSize": (1, 10_000),
    "retryAttempts": (0, 10),
    "syncIntervalMinutes": (1, 1440),
}
SYNC_DEFAULTS: Final = {"batchSize": 500, "retryAttempts": 3, "syncIntervalMinutes": 15}
#: Credential keys per authentication type: (required, optional). The twin of
#: `reconciler.load.catalog.AUTH_CREDENTIALS` (the emulator may not import the loader;
#: tests/emulator/test_credentials.py keeps the two equal). The server refuses a key that is
#: not in either list; it does not insist on the required ones (credentials are write-only
#: and may be set later), which lint does for connector files.
CREDENTIAL_KEYS: Final[Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "BASIC": (("username", "password"), ()),
    "OAUTH2": (("tokenEndpoint", "clientId", "clientSecret"), ("scope", "audience")),
    "API_KEY": (("apiKey",), ("headerName",)),
}
ALL_CREDENTIAL_KEYS: Final = frozenset(
    key for required, optional in CREDENTIAL_KEYS.values() for key in (*required, *optional)
)


# --- the connector document -------------------------------------------------


class _Checker:
    def __init__(self) -> None:
        self.details: list[Detail] = []

    def fail(self, path: str, message: str) -> None:
        self.details.append(Detail(path, message))

    def string(
        self,
        value: Any,
        path: str,
        max_len: int,
        pattern: re.Pattern[str] | None = NO_CONTROL,
        hint: str = "must not contain control characters",
    ) -> bool:
        if not isinstance(value, str):
            self.fail(path, f"must be a string, not {json_type(value)}")
            return False
        if not value or len(value) > max_len:
            self.fail(path, f"must be 1 to {max_len} characters long")
            return False
        if pattern is not None and not pattern.fullmatch(value):
            self.fail(path, hint)
            return False
        return True

    def enum(self, value: Any, path: str, choices: tuple[str, ...]) -> None:
        if not isinstance(value, str) or value not in choices:
            self.fail(path, f"must be one of {', '.join(choices)}, not {json.dumps(value)}")

    def obj(self, value: Any, path: str) -> bool:
        if not isinstance(value, dict):
            self.fail(path, f"must be an object, not {json_type(value)}")
            return False
        return True

    def unknown(self, value: Mapping[str, Any], path: str, known: Collection[str]) -> None:
        for key in value:
            if key not in known:
                self.fail(f"{path}/{escape(key)}", "is not a known field")


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def escape(key: str) -> str:
    """A JSON Pointer token (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def check_read_only(body: Mapping[str, Any]) -> None:
    """Server-managed fields are answered with 422, before any other check."""
    written = [key for key in SERVER_MANAGED_FIELDS if key in body]
    if written:
        raise ApiProblem(
            422,
            "read_only_field",
            f"{', '.join(written)} {'is' if len(written) == 1 else 'are'} managed by the "
            "server and cannot be written; remove it from the request body",
            [Detail(f"/{key}", "is read-only") for key in written],
        )


def check_document(doc: Mapping[str, Any], credentials_by_type: bool = True) -> None:
    """Validate a complete connector document (a POST body, or a PATCH merged onto one).

    `credentials_by_type=False` leaves out the check of credential keys against the
    authentication type, which a PATCH answers separately (422, see `credential_mismatches`).
    """
    c = _Checker()
    c.unknown(doc, "", CONNECTOR_FIELDS)
    for key in REQUIRED:
        if key not in doc:
            c.fail(f"/{key}", "is required")
    if "name" in doc:
        c.string(doc["name"], "/name", NAME_MAX)
    if "description" in doc:
        c.string(doc["description"], "/description", DESCRIPTION_MAX, pattern=None)
    if "lifecycleStatus" in doc:
        c.enum(doc["lifecycleStatus"], "/lifecycleStatus", LIFECYCLE_STATES)
    if "connectorType" in doc:
        c.enum(doc["connectorType"], "/connectorType", CONNECTOR_TYPES)
    if "endpointUrl" in doc:
        c.string(
            doc["endpointUrl"],
            "/endpointUrl",
            URL_MAX,
            pattern=ENDPOINT_URL,
            hint="must be an http(s) URL with a host name or IPv4 address, without spaces",
        )
    if "authentication" in doc:
        _check_authentication(c, doc["authentication"], credentials_by_type)
    if "mappings" in doc:
        _check_mappings(c, doc["mappings"])
    if "syncSettings" in doc:
        _check_sync_settings(c, doc["syncSettings"])
    if "version" in doc:
        c.string(doc["version"], "/version", 64, VERSION, "must be MAJOR.MINOR.PATCH, e.g. 1.0.0")
    if "labels" in doc:
        _check_labels(c, doc["labels"])
    if c.details:
        raise validation_failed(c.details)


def _check_authentication(c: _Checker, auth: Any, by_type: bool) -> None:
    if not c.obj(auth, "/authentication"):
        return
    c.unknown(auth, "/authentication", frozenset({"type", "credentials"}))
    if "type" not in auth:
        c.fail("/authentication/type", "is required")
    else:
        c.enum(auth["type"], "/authentication/type", AUTH_TYPES)
    creds = auth.get("credentials", {})
    if not c.obj(creds, "/authentication/credentials"):
        return
    if len(creds) > CREDENTIALS_MAX:
        c.fail("/authentication/credentials", f"has more than {CREDENTIALS_MAX} keys")
    for key, value in creds.items():
        path = f"/authentication/credentials/{escape(key)}"
        if key not in ALL_CREDENTIAL_KEYS:
            c.fail(
                path, f"is not a credential key; known: {', '.join(sorted(ALL_CREDENTIAL_KEYS))}"
            )
        if c.string(value, path, CREDENTIAL_VALUE_MAX, pattern=None) and value == MASK:
            c.fail(path, "is the mask that reads return; send the real value or omit the key")
    if by_type:
        c.details.extend(credential_mismatches(auth))


def credential_mismatches(auth: Any) -> list[Detail]:
    """Known credential keys that the authentication's type does not use (CREDENTIAL_KEYS)."""
    if not isinstance(auth, dict) or not isinstance(auth.get("credentials"), dict):
        return []
    auth_type = auth.get("type")
    if not isinstance(auth_type, str) or auth_type not in CREDENTIAL_KEYS:
        return []
    required, optional = CREDENTIAL_KEYS[auth_type]
    allowed = (*required, *optional)
    return [
        Detail(
            f"/authentication/credentials/{escape(key)}",
            f"is not a credential of {auth_type} authentication (its keys: "
            f"{', '.join(allowed)}); leave it out, or remove it with null in a PATCH",
        )
        for key in auth["credentials"]
        if key in ALL_CREDENTIAL_KEYS and key not in allowed
    ]


def _check_mappings(c: _Checker, mappings: Any) -> None:
    if not isinstance(mappings, list):
        c.fail("/mappings", f"must be an array, not {json_type(mappings)}")
        return
    if len(mappings) > MAPPINGS_MAX:
        c.fail("/mappings", f"has more than {MAPPINGS_MAX} items")
    seen: dict[str, set[str]] = {"cxoneField": set(), "crmField": set()}
    for i, item in enumerate(mappings):
        path = f"/mappings/{i}"
        if not c.obj(item, path):
            continue
        c.unknown(item, path, MAPPING_FIELDS)
        for key in ("cxoneField", "crmField"):
            if key not in item:
                c.fail(f"{path}/{key}", "is required")
            elif c.string(item[key], f"{path}/{key}", FIELD_MAX):
                if item[key] in seen[key]:
                    c.fail(f"{path}/{key}", f"{item[key]!r} is mapped more than once")
                seen[key].add(item[key])
        if "direction" not in item:
            c.fail(f"{path}/direction", "is required")
        else:
            c.enum(item["direction"], f"{path}/direction", DIRECTIONS)
        if "transformation" in item:
            c.string(item["transformation"], f"{path}/transformation", TRANSFORMATION_MAX)


def _check_sync_settings(c: _Checker, settings: Any) -> None:
    if not c.obj(settings, "/syncSettings"):
        return
    c.unknown(settings, "/syncSettings", frozenset(SYNC_SETTING_RANGES))
    for key, (low, high) in SYNC_SETTING_RANGES.items():
        if key not in settings:
            continue
        value = settings[key]
        # JSON Schema counts 29.0 as an integer; so do we (stored as 29).
        integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not integral:
            c.fail(f"/syncSettings/{key}", f"must be an integer, not {json_type(value)}")
        elif not low <= value <= high:
            c.fail(f"/syncSettings/{key}", f"must be between {low} and {high}")


def _check_labels(c: _Checker, labels: Any) -> None:
    if not c.obj(labels, "/labels"):
        return
    if len(labels) > LABELS_MAX:
        c.fail("/labels", f"has more than {LABELS_MAX} labels")
    for key, value in labels.items():
        path = f"/labels/{escape(key)}"
        if not LABEL_KEY.fullmatch(key):
            c.fail(path, f"key does not match {LABEL_KEY.pattern}")
        if not isinstance(value, str):
            c.fail(path, f"must be a string, not {json_type(value)}")
        elif len(value) > LABEL_VALUE_MAX or not NO_CONTROL.fullmatch(value or "x"):
            c.fail(path, f"must be at most {LABEL_VALUE_MAX} characters without control codes")


def with_defaults(doc: Mapping[str, Any]) -> Document:
    """The document as the server stores it: defaults filled, keys in the API's order."""
    out: Document = {"name": doc["name"]}
    if "description" in doc:
        out["description"] = doc["description"]
    out["lifecycleStatus"] = doc.get("lifecycleStatus", "DRAFT")
    out["connectorType"] = doc["connectorType"]
    out["endpointUrl"] = doc["endpointUrl"]
    auth = doc["authentication"]
    out["authentication"] = {"type": auth["type"], "credentials": dict(auth.get("credentials", {}))}
    out["mappings"] = [dict(m) for m in doc.get("mappings", [])]
    settings = {**SYNC_DEFAULTS, **doc.get("syncSettings", {})}
    out["syncSettings"] = {key: int(value) for key, value in settings.items()}
    out["version"] = doc.get("version", "1.0.0")
    out["labels"] = dict(doc.get("labels", {}))
    return out


def check_patch_keys(patch: Mapping[str, Any]) -> None:
    """400 for a key ConnectorPatch does not know, null included: merged, removing a
    misspelt key would be a silent no-op that leaves the real one in place. (Label keys are
    the user's own; values are checked on the merged document.)"""
    c = _Checker()
    c.unknown(patch, "", CONNECTOR_FIELDS)
    auth = patch.get("authentication")
    if isinstance(auth, dict):
        c.unknown(auth, "/authentication", frozenset({"type", "credentials"}))
        creds = auth.get("credentials")
        for key in creds if isinstance(creds, dict) else ():
            if key not in ALL_CREDENTIAL_KEYS:
                c.fail(
                    f"/authentication/credentials/{escape(key)}",
                    f"is not a credential key; known: {', '.join(sorted(ALL_CREDENTIAL_KEYS))}",
                )
    settings = patch.get("syncSettings")
    if isinstance(settings, dict):
        c.unknown(settings, "/syncSettings", SYNC_SETTING_RANGES)
    if c.details:
        raise validation_failed(c.details)


# --- sync requests ----------------------------------------------------------


def check_sync_request(body: Mapping[str, Any]) -> str:
    c = _Checker()
    c.unknown(body, "", frozenset({"syncType"}))
    if "syncType" not in body:
        c.fail("/syncType", "is required")
    else:
        c.enum(body["syncType"], "/syncType", SYNC_TYPES)
    if c.details:
        raise validation_failed(c.details)
    return str(body["syncType"])
