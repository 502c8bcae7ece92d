"""What is secret, in one place: the credential fields `schemas/connector.schema.json` marks
`writeOnly`, the mask every output shows instead of them, and `Secret`, a value kept out of reprs.

The schema's `writeOnly` annotation is the one definition: the emulator masks exactly those
fields on read, and plans, dumps, the audit log and the status page mask exactly those
(`is_secret_field` / `is_secret_path` / `mask_value`). Everything else is shown in clear; a
secret is shown by its `${env:}` / `${file:}` reference. `looks_secret` is a separate, name-based
guess used only to refuse input that could commit a secret where it would be shown (a
cxrecon.yaml key or variable, a label, a URL's query); it never decides what is masked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import cache, lru_cache
from importlib.resources import files
from typing import Any, Final
from urllib.parse import quote, quote_plus

#: What every output shows instead of a secret value.
MASK: Final = "***"

#: Where the connector schema lives (the same resource reconciler.documents.schema reads).
_SCHEMA_PACKAGE: Final = "reconciler.schemas"
_CONNECTOR_SCHEMA: Final = "connector.schema.json"
#: The essence and plan path of the credentials: `authentication.credentials.KEY`.
CREDENTIALS_PATH: Final = ("authentication", "credentials")


@cache
def credential_fields() -> Mapping[str, Mapping[str, bool]]:
    """Per authentication type (BASIC, OAUTH2, API_KEY), each credential key the connector
    schema describes and whether it is `writeOnly` (secret). Read from the schema's `$defs`
    (`basicCredentials`, …) through the `if type == X then credentials: $ref` rules, so a key
    added to the schema is classified by its annotation alone."""
    text = files(_SCHEMA_PACKAGE).joinpath(_CONNECTOR_SCHEMA).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    defs: Mapping[str, Any] = schema["$defs"]
    auth: Mapping[str, Any] = schema["properties"]["authentication"]
    found: dict[str, Mapping[str, bool]] = {}
    for rule in auth.get("allOf", ()):
        auth_type = rule["if"]["properties"]["type"]["const"]
        ref: str = rule["then"]["properties"]["credentials"]["$ref"]
        properties: Mapping[str, Any] = defs[ref.rsplit("/", 1)[-1]]["properties"]
        found[auth_type] = {key: prop.get("writeOnly") is True for key, prop in properties.items()}
    if not found:  # a schema without the rules would silently make every credential plain
        raise RuntimeError(f"{_CONNECTOR_SCHEMA} describes no credential fields")
    return found


@cache
def secret_fields() -> frozenset[str]:
    """Every credential key the schema marks `writeOnly` (password, clientSecret, apiKey)."""
    return frozenset(k for keys in credential_fields().values() for k, w in keys.items() if w)


@cache
def described_fields() -> frozenset[str]:
    """Every credential key the schema describes, secret or not."""
    return frozenset(k for keys in credential_fields().values() for k in keys)


def is_secret_field(key: str) -> bool:
    """True for a credential key the schema marks `writeOnly` (its value is secret)."""
    return key in secret_fields()


def is_masked_field(key: str) -> bool:
    """True for a credential key whose value no output shows: a secret one, or one the
    schema does not describe at all (it can only come from a tenant, since a connector file
    with it does not validate, and nothing says its value may be shown)."""
    return key in secret_fields() or key not in described_fields()


def is_secret_path(path: str | Sequence[str | int]) -> bool:
    """True for `authentication.credentials.KEY` where KEY is masked (`is_masked_field`);
    every other path is shown in clear. `path` is a plan path string (`…credentials[KEY]`
    or `…credentials.KEY`) or its parts."""
    if isinstance(path, str):
        return _secret_parts(tuple(p for p in re.split(r"[.\[\]]+", path) if p))
    return _secret_parts(tuple(path))  # a tuple (the diff's form) is used as it is


@lru_cache(maxsize=4096)  # paths repeat across connectors (a plan of 1,000 creates: ~20)
def _secret_parts(parts: tuple[Any, ...]) -> bool:
    return (
        len(parts) >= 3
        and tuple(str(p) for p in parts[:2]) == CREDENTIALS_PATH
        and is_masked_field(str(parts[2]))
    )


def mask_value(path: str | Sequence[str | int], value: Any) -> Any:
    """`value`, or MASK where it is (or holds) a secret credential: a mapping keeps its keys
    (key names are not secret) with the secret ones' values masked; None stays None."""
    if value is None:
        return None
    base = _parts(path)
    if _secret_parts(base):
        if isinstance(value, Mapping):
            return {str(k): MASK for k in value}
        return MASK
    if isinstance(value, Mapping):
        return {str(k): mask_value((*base, str(k)), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(base, v) for v in value]
    return value


def _parts(path: str | Sequence[str | int]) -> tuple[Any, ...]:
    if isinstance(path, str):
        return tuple(p for p in re.split(r"[.\[\]]+", path) if p)
    return tuple(path)


def is_server_mask(value: object) -> bool:
    """A value a server returned in place of a credential it does not reveal: `***`, the
    emulator's `********`, or any run of asterisks (older servers mask every credential)."""
    return isinstance(value, str) and value != "" and set(value) == {"*"}


#: Name-based guesses, for input guards only (see `looks_secret`): compared
#: case-insensitively, ignoring `_` and `-`.
_SECRET_LOOKING_NAMES: Final = frozenset(
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
_SECRET_LOOKING_SUFFIXES: Final = ("secret", "password", "passwd", "token", "apikey", "privatekey")


@lru_cache(maxsize=1024)  # asked for every key of cxrecon.yaml, labels and URL queries
def looks_secret(name: str) -> bool:
    """True for a name that suggests a secret (`db_password`, `api-key`, `idToken`). Only
    for refusing input that would put a secret where it is stored or shown in clear
    (cxrecon.yaml keys and `vars`, label keys, URL query parameters): a false alarm there
    costs a rename, a miss a leaked secret. Never used to mask output."""
    folded = name.replace("_", "").replace("-", "").lower()
    return folded in _SECRET_LOOKING_NAMES or folded.endswith(_SECRET_LOOKING_SUFFIXES)


class Secret:
    """A string that only `reveal()` gives back; `str`, `repr` and f-strings show a mask."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

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
