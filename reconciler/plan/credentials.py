"""Salted, slow fingerprints of write-only credentials, kept in a label on each connector.

The API masks secret credential values on read, so the only way to tell whether git's
credentials differ from the tenant's is a fingerprint cxrecon recorded when it last
wrote them: label `cxrecon.io/credentials-fingerprint`, value

    s<log2 N>.<salt>.<public>.<full>.<refs>  (base64url, ~65 characters)

- `salt`: 12 random bytes per connector, new on every write.
- `public`: HMAC-SHA256(salt, auth type + credential keys + literal non-secret values).
  Those values are in git in plain text anyway; a fast keyed hash is enough, and it lets
  a plan that cannot resolve secrets still see that e.g. a literal `clientId` or the set
  of keys changed ("rotated").
- `full`: scrypt(N, r=8, p=1) over the auth type and every value, secrets resolved.
  Slow and salted so a readable label does not let anyone test guesses of a weak
  password cheaply; N is in the label so the cost can rise without breaking old labels.
- `refs`: HMAC-SHA256(salt, each `key=${env:NAME}` pair whose value is a reference). A
  pull request's plan job has no secrets, so without it a change of only the reference
  (`${env:SF_SECRET}` → `${env:SF_SECRET2}`) planned as no change and the merge never
  wrote the new secret. A differing `refs` is "rotated" whether or not the values are
  available, so the PR's plan, the reviewed plan and the merge's apply agree. The names
  are in git anyway; the digest keeps them out of the tenant's labels in clear (a reader
  with the salt can only confirm a guessed name). Labels written before it existed have
  four parts: they keep the old comparison and gain `refs` at the next credentials write.

`literal_fingerprint` is the same kind of digest of one literal secret value, for a plan
document: a reviewed plan compares a literal secret by it, never by value.

Outcomes: `unchanged` (full matches), `rotated` (refs differs; full differs; or public
differs and the values needed to compare the full digest are not available) or `unknown`:
no fingerprint label (apply will write the credentials and record one), or values not
resolvable here
(plan and validate never need secrets; apply, which has them, compares again and writes
only when they differ).

Secret means what the connector schema marks `writeOnly` (reconciler.secret). A non-secret
value CXone returns is compared in the essence itself (reconciler.plan.essence); the
fingerprint still covers it, so a recorded label stays valid. A non-secret value given as
a reference (`clientId: ${env:X}`, as older dumps wrote every credential) counts as
secret-bearing: it is left out of `public`, and without its value the credentials are
unknown. Whenever every value is available (and `refs` matches or is absent) the full
digest decides, also when `public` differs: a value that moved between a literal and a
reference under a four-part label changes `public` but not the credentials. So a public
mismatch alone is "rotated" only when no non-secret value is an unresolved reference (it
might be the literal recorded before). With `refs`, such a move is a rotation: the
write that follows records the new form.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from reconciler.errors import SecretResolutionError
from reconciler.hashing import (
    canonical_json,
    hmac_sha256,
    same_digest,
    scrypt,
    sha256_bytes,
    urlsafe_b64,
)
from reconciler.load.references import is_secret_reference
from reconciler.secret import is_secret_field

#: scrypt cost: 2**13 × r=8 → 8 MiB and ~10 ms per fingerprint on a laptop core.
DEFAULT_LOG2_N: Final = 13
_MAX_LOG2_N: Final = 20
_SALT_BYTES: Final = 12
_PUBLIC_BYTES: Final = 9
_FULL_BYTES: Final = 12

#: Resolves one credential value (a reference or a literal) to its plain value; raises
#: SecretResolutionError when the environment cannot provide it (load.secret_lookup.SecretLookup).
ResolveValue = Callable[[str], str]
#: A fingerprint label with the credentials (references unresolved) it is compared to.
_RecordedKey = tuple[str, str, frozenset[tuple[str, str]]]
#: What a label says about git's credentials: the parsed label (None: none readable),
#: whether `public` matches, whether `refs` matches (True when the label has none).
_Recorded = tuple["ParsedFingerprint | None", bool, bool]


class CredentialStatus(StrEnum):
    ROTATED = "rotated"
    UNCHANGED = "unchanged"
    UNKNOWN = "unknown"


class CredentialReason(StrEnum):
    MATCH = "fingerprint matches"
    DIFFERS = "fingerprint differs"
    NO_FINGERPRINT = "no fingerprint recorded"
    # The label holds a keyed digest of the references, not their names: which one changed
    # cannot be told (git's history shows it).
    REFERENCE_CHANGED = "a secret reference changed"
    SECRETS_UNAVAILABLE = "secret values not available to this run"


@dataclass(frozen=True, slots=True)
class CredentialCheck:
    """The credentials verdict for one connector; never holds a value or a hash."""

    status: CredentialStatus
    reason: CredentialReason

    @property
    def will_write(self) -> bool:
        """Apply sends credentials for sure (rotated, or a fingerprint must be recorded)."""
        return self.status is CredentialStatus.ROTATED or (
            self.reason is CredentialReason.NO_FINGERPRINT
        )

    def describe(self) -> str:
        return f"{self.status.value} ({self.reason.value})"


def is_reference(value: str) -> bool:
    """`${env:NAME}` / `${file:PATH}`: a value that must be resolved (and is secret-bearing)."""
    return is_secret_reference(value)


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _public_digest(
    salt: bytes,
    auth_type: str,
    credentials: Mapping[str, str],
    is_secret_key: Callable[[str], bool],
) -> str:
    literal = {k: v for k, v in credentials.items() if not is_secret_key(k) and not is_reference(v)}
    payload = {"type": auth_type, "keys": sorted(credentials), "literal": literal}
    return urlsafe_b64(hmac_sha256(salt, canonical_json(payload))[:_PUBLIC_BYTES])


def _references_digest(salt: bytes, credentials: Mapping[str, str]) -> str:
    references = sorted(f"{k}={v}" for k, v in credentials.items() if is_reference(v))
    payload = {"references": references}
    return urlsafe_b64(hmac_sha256(salt, canonical_json(payload))[:_PUBLIC_BYTES])


def _full_digest(salt: bytes, log2_n: int, auth_type: str, plain: Mapping[str, str]) -> str:
    secret = canonical_json({"type": auth_type, "values": dict(plain)})
    return urlsafe_b64(scrypt(secret, salt, log2_n)[:_FULL_BYTES])


def literal_fingerprint(value: str, salt: bytes | None = None, log2_n: int = DEFAULT_LOG2_N) -> str:
    """`l<log2 N>.<salt>.<digest>`: a salted scrypt fingerprint of one literal secret value,
    for a plan document (a saved plan is an artifact others can read). A fresh salt unless
    `salt` is given: to tell whether a value is the one a fingerprint was made of, make it
    again with that fingerprint's salt (`literal_matches`)."""
    salt = os.urandom(_SALT_BYTES) if salt is None else salt
    return f"l{log2_n}.{urlsafe_b64(salt)}." + _full_digest(
        salt, log2_n, "literal", {"value": value}
    )


def literal_matches(fingerprint: object, value: str) -> bool:
    """Whether `value` is the literal `fingerprint` (from `literal_fingerprint`) was made of;
    False for anything that is not such a fingerprint."""
    if not isinstance(fingerprint, str):
        return False
    parts = fingerprint.split(".")
    if len(parts) != 3 or not parts[0].startswith("l"):
        return False
    try:
        log2_n, salt = int(parts[0][1:]), _unb64(parts[1])
    except ValueError:
        return False
    if not 10 <= log2_n <= _MAX_LOG2_N or len(salt) != _SALT_BYTES:
        return False
    return same_digest(literal_fingerprint(value, salt, log2_n), fingerprint)


@dataclass(frozen=True, slots=True)
class ParsedFingerprint:
    log2_n: int
    salt: bytes
    public: str
    full: str
    references: str | None = None  # None: a four-part label from before `refs` existed

    @classmethod
    def parse(cls, label: str | None) -> ParsedFingerprint | None:
        """None for a missing or unreadable label (it then counts as no fingerprint)."""
        if not label:
            return None
        parts = label.split(".")
        if len(parts) not in (4, 5) or not parts[0].startswith("s") or not all(parts):
            return None
        try:
            log2_n = int(parts[0][1:])
            salt = _unb64(parts[1])
        except ValueError:
            return None
        if not 10 <= log2_n <= _MAX_LOG2_N or len(salt) != _SALT_BYTES:
            return None
        references = parts[4] if len(parts) == 5 else None
        return cls(log2_n=log2_n, salt=salt, public=parts[2], full=parts[3], references=references)


@dataclass
class CredentialChecker:
    """Checks and computes fingerprints for one run; resolutions, read labels and KDF
    results are cached.

    `lookup` None means "do not try to resolve secrets" (e.g. validate, or a CI job without
    the production environment). `is_secret_key` tells secret keys (the schema's writeOnly
    ones, reconciler.secret) from plain ones.
    """

    lookup: ResolveValue | None
    is_secret_key: Callable[[str], bool] = is_secret_field
    log2_n: int = DEFAULT_LOG2_N
    _resolved: dict[str, str | None] = field(default_factory=dict, repr=False)
    _kdf: dict[tuple[bytes, int, bytes], str] = field(default_factory=dict, repr=False)
    _recorded: dict[_RecordedKey, _Recorded] = field(default_factory=dict, repr=False)

    def resolve_all(self, credentials: Mapping[str, str]) -> dict[str, str] | None:
        """Every value in plain form, or None if any reference cannot be resolved here."""
        if self.lookup is None:
            return None
        plain: dict[str, str] = {}
        for key, value in credentials.items():
            if value not in self._resolved:
                try:
                    self._resolved[value] = self.lookup(value)
                except SecretResolutionError:
                    self._resolved[value] = None
            resolved = self._resolved[value]
            if resolved is None:
                return None
            plain[key] = resolved
        return plain

    def _full(self, salt: bytes, log2_n: int, auth_type: str, plain: Mapping[str, str]) -> str:
        # The cache key is a hash of the plain values, so no value outlives the run in clear.
        key = (salt, log2_n, sha256_bytes(canonical_json([auth_type, plain])))
        if key not in self._kdf:
            self._kdf[key] = _full_digest(salt, log2_n, auth_type, plain)
        return self._kdf[key]

    def fingerprint(
        self, auth_type: str, credentials: Mapping[str, str], plain: Mapping[str, str]
    ) -> str:
        """A new label value (fresh salt) for credentials that are about to be written."""
        salt = os.urandom(_SALT_BYTES)
        public = _public_digest(salt, auth_type, credentials, self.is_secret_key)
        full = self._full(salt, self.log2_n, auth_type, plain)
        references = _references_digest(salt, credentials)
        return f"s{self.log2_n}.{urlsafe_b64(salt)}.{public}.{full}.{references}"

    def check(
        self, auth_type: str, credentials: Mapping[str, str], label: str | None
    ) -> CredentialCheck:
        """Compare git's credentials (references unresolved) with a recorded fingerprint."""
        recorded, public_matches, references_match = self._read_label(auth_type, credentials, label)
        if recorded is None:
            return CredentialCheck(CredentialStatus.UNKNOWN, CredentialReason.NO_FINGERPRINT)
        if not public_matches and not self._plain_references(credentials):
            # Every non-secret value is a literal here: what `public` covers did change.
            return CredentialCheck(CredentialStatus.ROTATED, CredentialReason.DIFFERS)
        if not references_match:
            # Decided without the values, so a plan without secrets and the apply with them
            # agree; the write records the new references (same values or not).
            return CredentialCheck(CredentialStatus.ROTATED, CredentialReason.REFERENCE_CHANGED)
        plain = self.resolve_all(credentials)
        if plain is None:
            return CredentialCheck(CredentialStatus.UNKNOWN, CredentialReason.SECRETS_UNAVAILABLE)
        full = self._full(recorded.salt, recorded.log2_n, auth_type, plain)
        if same_digest(full, recorded.full):
            return CredentialCheck(CredentialStatus.UNCHANGED, CredentialReason.MATCH)
        return CredentialCheck(CredentialStatus.ROTATED, CredentialReason.DIFFERS)

    def _read_label(
        self, auth_type: str, credentials: Mapping[str, str], label: str | None
    ) -> _Recorded:
        """The recorded fingerprint (None: none readable) and whether its public and
        references digests match git's credentials. Kept for the run: `prefetch` and then
        `check` ask it for every connector, and each digest is an HMAC over canonical JSON."""
        if not label:
            return None, False, False
        key = (label, auth_type, frozenset(credentials.items()))
        known = self._recorded.get(key)
        if known is None:
            recorded = ParsedFingerprint.parse(label)
            matches = references = False
            if recorded is not None:
                matches = same_digest(
                    _public_digest(recorded.salt, auth_type, credentials, self.is_secret_key),
                    recorded.public,
                )
                references = recorded.references is None or same_digest(
                    _references_digest(recorded.salt, credentials), recorded.references
                )
            known = self._recorded[key] = (recorded, matches, references)
        return known

    def _plain_references(self, credentials: Mapping[str, str]) -> bool:
        """Whether a non-secret key holds a reference (`clientId: ${env:X}`): the recorded
        `public` may hold its value as a literal, so `public` alone cannot tell a change."""
        return any(not self.is_secret_key(k) and is_reference(v) for k, v in credentials.items())

    def prefetch(self, items: Iterable[tuple[str, Mapping[str, str], str | None]]) -> None:
        """Compute the slow digests `check` will need, on all cores (scrypt drops the GIL)."""
        jobs: list[tuple[bytes, int, str, dict[str, str]]] = []
        for auth_type, credentials, label in items:
            recorded, public_matches, references_match = self._read_label(
                auth_type, credentials, label
            )
            if recorded is None or not references_match:
                continue
            if not public_matches and not self._plain_references(credentials):
                continue
            plain = self.resolve_all(credentials)
            if plain is not None:
                jobs.append((recorded.salt, recorded.log2_n, auth_type, plain))
        if len(jobs) < 2:
            return
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            list(pool.map(lambda job: self._full(*job), jobs))
