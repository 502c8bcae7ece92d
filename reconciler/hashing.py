"""Every hash cxrecon makes, in one place: canonical JSON, sha256 in its hex, prefixed and
short forms, HMAC, scrypt, and the two digests of what git asks for.

Many of these are persisted (saved plans, labels written into CXone, idempotency keys,
notified.json, ETags, cache keys), so their bytes never change: where an older writer used
another JSON form, that form is a named parameter here, never a silent default
(tests/test_hashing_golden.py pins every persisted digest).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from itertools import product
from json.encoder import encode_basestring as _quote
from typing import TYPE_CHECKING, Any, AnyStr, Final

from reconciler.model import ConnectorSpec, DesiredConnector, FieldMapping, SyncSettings

if TYPE_CHECKING:
    from hashlib import _Hash as Hasher

#: A keyed hash (`keyed_hmac`), copied per message.
Mac = hmac.HMAC

# --- canonical JSON ---------------------------------------------------------------

#: Made once per form: json.dumps builds an encoder on every call given any option.
_ENCODERS: Final = {
    (ascii, spaced, lenient): json.JSONEncoder(
        sort_keys=True,
        separators=(", ", ": ") if spaced else (",", ":"),
        ensure_ascii=ascii,
        default=str if lenient else None,
    )
    for ascii, spaced, lenient in product((False, True), repeat=3)
}
_CANONICAL: Final = _ENCODERS[False, False, False]


def canonical_json(
    value: Any, *, ascii: bool = False, spaced: bool = False, lenient: bool = False
) -> bytes:
    """Deterministic JSON bytes for hashing: keys sorted, no spaces, UTF-8 text unescaped.

    The options exist for digests that are persisted in another form, whose bytes must
    stay what earlier releases wrote; a new digest uses none of them:
    - `ascii`: non-ASCII text as `\\uXXXX` escapes (idempotency keys, the emulator's
      request fingerprints, the variables in `source_digest`; and plan/comparison's
      in-memory keys, where a lone surrogate CXone sent must compare, not raise);
    - `spaced`: json.dumps' default `", "` and `": "` separators (notification
      fingerprints and notified.json, `source_digest`'s variables);
    - `lenient`: a value JSON has no type for is written as its str() instead of raising
      (idempotency keys, notification fingerprints).
    """
    if ascii or spaced or lenient:
        return _ENCODERS[ascii, spaced, lenient].encode(value).encode()
    return _CANONICAL.encode(value).encode()


# --- digests ----------------------------------------------------------------------


def sha256(data: bytes = b"") -> Hasher:
    """An incremental sha256, for a digest of many parts (`update` each, then `hexdigest`)."""
    return hashlib.sha256(data)


def sha256_bytes(data: bytes) -> bytes:
    """The raw 32-byte digest (keys of in-memory caches, never shown)."""
    return hashlib.sha256(data).digest()


def sha256_hex(data: bytes, size: int | None = None) -> str:
    """The hex digest, or its first `size` characters."""
    text = hashlib.sha256(data).hexdigest()
    return text if size is None else text[:size]


def sha256_prefixed(data: bytes) -> str:
    """`sha256:<hex>`: a digest that names its algorithm (saved plans, whole-state pins)."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def urlsafe_b64(data: bytes) -> str:
    """URL-safe base64 without padding: how labels, which allow few characters, hold bytes."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def sha256_b64(data: bytes, size: int) -> str:
    """The first `size` bytes of the digest as `urlsafe_b64` (short digests in labels)."""
    return urlsafe_b64(hashlib.sha256(data).digest()[:size])


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256 of `data` under `key`."""
    return hmac.new(key, data, hashlib.sha256).digest()


def keyed_hmac(key: bytes) -> Mac:
    """An HMAC-SHA256 keyed once; `copy()` it per message (half the cost of keying each)."""
    return hmac.new(key, digestmod="sha256")


def scrypt(secret: bytes, salt: bytes, log2_n: int, size: int = 32) -> bytes:
    """scrypt with N = 2**log2_n, r=8, p=1: slow on purpose, for fingerprints of secrets."""
    memory = 2**log2_n * 1024 + 2**20
    return hashlib.scrypt(secret, salt=salt, n=2**log2_n, r=8, p=1, maxmem=memory, dklen=size)


def same_digest(a: AnyStr, b: AnyStr) -> bool:
    """Whether two digests (or secrets) are equal, in time that does not tell where they
    differ."""
    return hmac.compare_digest(a, b)


# --- what git asks for ----------------------------------------------------------------


def desired_state_digest(connectors: Sequence[DesiredConnector], environment: str | None) -> str:
    """A digest of what git asks for (every connector's spec, secret references unresolved),
    not of the file bytes: a comment or a reordered key does not change it, so it does not
    make a saved plan stale.

    Saved plans compare it, so its bytes never change: `canonical_json([environment, specs])`
    with the specs in API shape sorted by name. They are hashed connector by connector, so
    no document of every connector is built (tests/plan/test_desired_digest.py pins it)."""
    digest = hashlib.sha256(b"[" + canonical_json(environment) + b",[")
    for i, d in enumerate(sorted(connectors, key=lambda d: str(d.spec.name))):
        text = _spec_json(d.spec)
        body = canonical_json(d.spec.to_api()) if text is None else text.encode()
        digest.update(b"," + body if i else body)
    digest.update(b"]]")
    return digest.hexdigest()


def source_digest(files: Iterable[tuple[str, str]], variables: Mapping[str, Any]) -> str:
    """The digest `validate --json` prints (`LoadResult.digest`): each file's name (relative
    to the connectors folder) and text, then the environment's `vars`.

    Not the desired-state digest: this one follows the text, so a comment changes it; saved
    plans compare `desired_state_digest`, which a comment does not change. Its bytes are
    what validate printed before (the variables in json.dumps' default form)."""
    hasher = hashlib.sha256()
    for name, text in files:
        hasher.update(f"{name}\0{text}\0".encode())
    hasher.update(b"\0vars\0" + canonical_json(dict(variables), ascii=True, spaced=True))
    return hasher.hexdigest()


# A spec's canonical JSON written directly (`_spec_json`): building `to_api()` dicts and
# encoding them took ~60 ms per 1,000 connectors (Python 3.11), a third of the diff phase
# of a plan where nothing changed; this takes a third to a half of that (10,000 connectors
# of 20 mappings, a busy 2-core machine: 0.33-0.48 s against 0.83-1.21 s). Only the types
# a loaded spec holds (str, exact int) are written here; any other value makes `_spec_json`
# return None and the caller use the json module. tests/plan/test_desired_digest.py holds
# both ways to the same bytes on generated specs, so a field added to `to_api()` and not
# here fails there rather than changing the digest. `_quote` is the string encoder json
# uses with ensure_ascii=False (the C one when available); it raises TypeError for
# anything but a str.


def _spec_json(spec: ConnectorSpec) -> str | None:
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
