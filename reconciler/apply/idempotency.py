"""The Idempotency-Key of a create request: a hash of its body without credential values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.hashing import canonical_json, sha256_hex


def idempotency_key(body: Mapping[str, Any], environment: str | None, name: str) -> str:
    """The Idempotency-Key of one create request: a hash of its exact body (as JSON) with the
    environment and connector name. The client replays one POST with this key; any new
    attempt (a re-run, a re-plan, a second apply racing this one) builds a new body (a fresh
    credential-fingerprint salt, a new applied-at), so it gets a new key and is never
    refused as a key reused for a different request. Duplicates are kept out by the name:
    CXone refuses a second connector with one name (409), and a create whose answer was
    lost is found by name before any replay (CxoneClient.create_connector, conflicts.reread).

    Credential values are left out of the hash (the key travels in a header that proxies may
    log, and a fast hash of a secret would let anyone test guesses of it): the body's
    credential-fingerprint label, salted and slow, stands for them."""
    # ASCII-escaped, any value by its str(): the form keys have had since the first release.
    raw = canonical_json(
        [environment or "", name, _without_secret_values(body)], ascii=True, lenient=True
    )
    return "cxrecon-" + sha256_hex(raw, 48)


def _without_secret_values(body: Mapping[str, Any]) -> dict[str, Any]:
    auth = body.get("authentication")
    credentials = auth.get("credentials") if isinstance(auth, Mapping) else None
    if not isinstance(auth, Mapping) or not isinstance(credentials, Mapping):
        return dict(body)
    masked = dict.fromkeys(credentials, "")
    return {**body, "authentication": {**auth, "credentials": masked}}
