"""What is secret, in one place: the field names and paths whose values are secret, the mask
shown instead of them, and `Secret`, a wrapper that keeps values out of reprs and logs.

Refs (literal-secret checks), the diff, the audit log, dump and the renderers all ask
`is_secret_field` / `is_secret_path` here, so a field is never plain to one and masked by
another.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Final
from urllib.parse import quote, quote_plus

#: What every output shows instead of a secret value.
MASK: Final = "***"
_MASK: Final = MASK

#: Field names that carry secrets (compared case-insensitively, ignoring `_` and `-`).
SECRET_FIELD_NAMES: Final = frozenset(
    {
        "clientsecret",
        "password",
        "passwd",
        "passphrase",
        "apikey",
        "apisecret",
        "token",
        "accesstoken",
        "refreshtoken",
        "bearertoken",
        "authtoken",
        "sessiontoken",
        "privatekey",
        "signingkey",
        "secret",
        "secretkey",
        "sharedsecret",
        "consumersecret",
        "clientassertion",
        "webhooksecret",
    }
)
#: Any name ending like these is treated as secret too (e.g. `salesforcePassword`, `idToken`).
SECRET_SUFFIXES: Final = ("secret", "password", "passwd", "token", "apikey", "privatekey")
#: The API's write-only section: every value under it is secret, whatever its key.
CREDENTIALS_KEY: Final = "credentials"


@lru_cache(maxsize=1024)  # asked for every key of every file; the keys are few
def is_secret_field(key: str) -> bool:
    """True for a field name whose value is a secret (clientSecret, password, apiKey, …)."""
    folded = key.replace("_", "").replace("-", "").lower()
    return folded in SECRET_FIELD_NAMES or folded.endswith(SECRET_SUFFIXES)


def is_secret_path(path: str | Sequence[str | int]) -> bool:
    """True for a field path under `credentials` (write-only in the API, so every key there
    is masked, `tokenEndpoint` included) or with any key that names a secret
    (`labels.clientSecret`). `path` is a plan path string or its parts."""
    if isinstance(path, str):
        return _secret_parts(tuple(p for p in re.split(r"[.\[\]]+", path) if p))
    return _secret_parts(tuple(path))  # a tuple (the diff's form) is used as it is


@lru_cache(maxsize=4096)  # paths repeat across connectors (a plan of 1,000 creates: ~20)
def _secret_parts(parts: tuple[Any, ...]) -> bool:
    return any(str(p) == CREDENTIALS_KEY or is_secret_field(str(p)) for p in parts)


def mask_value(path: str | Sequence[str | int], value: Any) -> Any:
    """`value`, or MASK when `path` is secret-bearing; a mapping keeps its keys (key names
    are not secret) with secret values masked; None stays None (absent)."""
    if value is None:
        return None
    if is_secret_path(path):
        if isinstance(value, Mapping):
            return {str(k): MASK for k in value}
        return MASK
    if isinstance(value, Mapping):
        base = [path] if isinstance(path, str) else list(path)
        return {str(k): mask_value([*base, str(k)], v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(path, v) for v in value]
    return value


class Secret:
    """A string that only `reveal()` gives back; `str`, `repr` and f-strings show a mask."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({_MASK!r})"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret values are not picklable")


def spellings(value: str) -> frozenset[str]:
    """The ways `value` can be written out by whatever repeats it back: as is, JSON-escaped
    (ASCII or not, also nested once more, as a server quoting its own JSON does), form- or
    URL-encoded, and as a Python repr. Masking only the raw value misses a secret holding a
    quote, a backslash, `&`, `+` or a non-ASCII character once it has been re-encoded."""
    forms = {value}
    for _ in range(2):
        forms |= {json.dumps(f)[1:-1] for f in forms}
        forms |= {json.dumps(f, ensure_ascii=False)[1:-1] for f in forms}
    forms |= {quote_plus(value), quote(value, safe=""), quote(value), ascii(value)[1:-1]}
    forms.add(repr(value)[1:-1])
    return frozenset(f for f in forms if f)
