"""The connector resource: ids, strong ETags, timestamps, write-only credentials.

A write turns a validated document into a `ConnectorRow` whose `public` JSON (secret
credentials masked, server fields added) is what every read returns byte for byte. Secret
means what `schemas/connector.schema.json` marks `writeOnly` (reconciler.secret): only those
are stored as digests and masked on read; every other credential is kept and returned.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from reconciler.emulator.problem import dumps
from reconciler.emulator.store import ConnectorRow
from reconciler.emulator.validation import MASK, Document
from reconciler.hashing import canonical_json, sha256_hex
from reconciler.secret import is_masked_field

DIGEST_PREFIX: Final = "sha256:"


class Clock:
    """Wall-clock time the emulator can be moved forward in (`POST /_emulator/clock`), so
    tests can expire tokens and finish sync jobs without sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def iso(epoch: float) -> str:
    """ISO 8601 UTC with milliseconds, e.g. 2024-05-01T12:00:00.123Z."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def new_connector_id() -> str:
    return "conn_" + secrets.token_hex(8)


def new_sync_id() -> str:
    return "sync_" + secrets.token_hex(8)


def digest_credential(connector_id: str, value: str) -> str:
    """What the server keeps instead of a credential: enough to notice a change, no more."""
    raw = sha256_hex(f"{connector_id}\0{value}".encode())
    return DIGEST_PREFIX + raw


def digest_credentials(
    connector_id: str, doc: Document, written: Mapping[str, Any] | None
) -> Document:
    """Replace the secret credential values present in `written` (the request's
    credentials) by digests; values not written in this request are digests already, and a
    credential that is not secret is kept as it is (reads return it)."""
    if not written:
        return doc
    creds = doc["authentication"]["credentials"]
    for key, value in written.items():
        if isinstance(value, str) and key in creds and is_masked_field(key):
            creds[key] = digest_credential(connector_id, value)
    return doc


def public_credential(key: str, value: Any) -> Any:
    """A stored credential as reads return it: the mask for a secret one, the value for any
    other. A value that is a digest (stored by an emulator that digested every credential)
    reads as the mask too: the value it stands for is gone."""
    if is_masked_field(key):
        return MASK
    if isinstance(value, str) and value.startswith(DIGEST_PREFIX) and len(value) == 71:
        return MASK
    return value


def build_row(
    connector_id: str,
    doc: Document,
    revision: int,
    created_time: str,
    modified_time: str,
) -> ConnectorRow:
    """Store form plus the public form, with an ETag unique to (id, revision, content)."""
    document = dumps(doc).decode()
    etag = '"' + sha256_hex(f"{connector_id}\0{revision}\0{document}".encode(), 32) + '"'
    public: dict[str, Any] = {"id": connector_id}
    for key, value in doc.items():
        if key == "authentication":
            value = {
                "type": value["type"],
                "credentials": {
                    k: public_credential(k, v) for k, v in value["credentials"].items()
                },
            }
        public[key] = value
    public["etag"] = etag
    public["createdTime"] = created_time
    public["lastModifiedTime"] = modified_time
    return ConnectorRow(
        id=connector_id,
        name=doc["name"],
        revision=revision,
        etag=etag,
        created_time=created_time,
        last_modified_time=modified_time,
        document=document,
        public=dumps(public).decode(),
    )


def load_document(row: ConnectorRow) -> Document:
    doc: Document = json.loads(row.document)
    return doc


def fingerprint(method: str, path: str, body: Mapping[str, Any]) -> str:
    """Identity of a request for Idempotency-Key: same method, path and JSON value."""
    return sha256_hex(f"{method} {path}\n".encode() + canonical_json(body, ascii=True))
