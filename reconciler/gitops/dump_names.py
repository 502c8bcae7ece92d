"""Names a dump hands out: file names (slugs of connector names) and `${env:}` variable
names for the credentials CXone does not return (the secret ones, and any a server masks),
unique within one dump and independent of the order the tenant lists its connectors in."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from reconciler.config.settings import is_reserved_variable
from reconciler.hashing import sha256_hex
from reconciler.model import ConnectorSpec
from reconciler.secret import is_masked_field, is_server_mask

#: Prefix for a variable name that would otherwise be one of cxrecon's or the CI runner's.
RESERVED_PREFIX_ESCAPE: Final = "CRM_"
#: A file name's stem stays well under every file system's limit (255 bytes) and readable.
FILE_STEM_MAX: Final = 80
#: Names Windows refuses for a file, whatever the extension: a clone there would fail.
_WINDOWS_RESERVED: Final = frozenset(
    {"con", "prn", "aux", "nul"} | {f"{d}{n}" for d in ("com", "lpt") for n in range(1, 10)}
)
#: Latin letters NFKD does not take apart, spelt as their usual ASCII transliteration.
_LATIN: Final = str.maketrans(
    {
        **{"ß": "ss", "ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ł": "l", "þ": "th", "ð": "d"},
        **{"ẞ": "SS", "Ø": "O", "Æ": "AE", "Œ": "OE", "Đ": "D", "Ł": "L", "Þ": "TH", "Ð": "D"},
        "ı": "i",
    }
)

#: Credential keys in the schema's order per authentication type; unknown keys follow, sorted.
_CREDENTIAL_ORDER: Final = {
    "BASIC": ("username", "password"),
    "OAUTH2": ("tokenEndpoint", "clientId", "clientSecret", "scope", "audience"),
    "API_KEY": ("apiKey", "headerName"),
}


@dataclass(frozen=True, slots=True)
class Reference:
    """A credential CXone did not return, written as `${env:NAME}`; `secret` tells a secret
    key (writeOnly in the connector schema: clientSecret, password, apiKey) from a plain one a
    server masked anyway (clientId, username… on a server that masks every credential)."""

    name: str
    connector: str
    key: str
    secret: bool

    @property
    def text(self) -> str:
        return "${env:" + self.name + "}"


def credential_keys(auth_type: str, credentials: Mapping[str, str]) -> list[str]:
    """The credential keys in the schema's order for the auth type, unknown ones after."""
    known = [k for k in _CREDENTIAL_ORDER.get(auth_type, ()) if k in credentials]
    return known + sorted(k for k in credentials if k not in known)


def credential_refs(spec: ConnectorSpec, connector_id: str, names: Names) -> dict[str, Reference]:
    """A reference for each secret credential and each value the server masked; every other
    credential CXone returned is written as it is (one variable per secret value)."""
    refs: dict[str, Reference] = {}
    credentials = spec.authentication.credentials
    for key in credential_keys(spec.authentication.type, credentials):
        secret = is_masked_field(key)
        if secret or is_server_mask(credentials[key]):
            name = names.variable(spec.name, key, connector_id)
            refs[key] = Reference(name, spec.name, key, secret)
    return refs


def ascii_fold(text: str) -> str:
    """`Kundendaten-Ünïcødé-日本` → `Kundendaten-Unicode-日本`: accents dropped, a few Latin
    letters transliterated; what has no ASCII spelling (日本) is left for the caller."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LATIN))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def slug(name: str) -> str:
    """`Salesforce-Prod_EU` → `salesforce-prod-eu` (lower case, runs of other chars → '-').

    Safe on every file system and stable across dumps: ASCII only, at most FILE_STEM_MAX
    characters, never a Windows device name. A name that loses letters on the way (`日本`,
    a long or reserved one) gets a short hash of the whole name, so two such names never
    meet and the same name always gets the same file: `kundendaten-unicode-3f9a1c`."""
    folded = ascii_fold(name).lower()
    base = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")
    lossy = not folded.isascii() or not base or len(base) > FILE_STEM_MAX
    base = base[:FILE_STEM_MAX].rstrip("-") or "connector"
    if lossy or base in _WINDOWS_RESERVED:
        base = f"{base}-{_short_hash(unicodedata.normalize('NFC', name))}"
    return base


def _words(text: str) -> str:
    """`Salesforce-Prod_EU` → `SALESFORCE_PROD_EU`, `HubSpot-Lead` → `HUBSPOT_LEAD`: a
    connector name is split at its own separators only (brand names keep their capitals
    together: HubSpot, NetSuite, ServiceNow, S4HANA)."""
    return re.sub(r"[^A-Za-z0-9]+", "_", ascii_fold(text)).strip("_").upper()


def _key_words(key: str) -> str:
    """`clientSecret` → `CLIENT_SECRET`, `tokenEndpoint` → `TOKEN_ENDPOINT`: a credential key
    (camelCase in the API) is split where a lowercase letter meets an uppercase one."""
    return _words(re.sub(r"(?<=[a-z])(?=[A-Z])", "_", key))


def _short_hash(text: str, size: int = 6) -> str:
    return sha256_hex(text.encode(), size)


class Names:
    """Hands out file and variable names, unique within one dump, in call order."""

    def __init__(self) -> None:
        self._files: set[str] = set()
        self._variables: set[str] = set()

    def file(self, name: str) -> str:
        base = slug(name)
        candidate, n = base, 1
        if candidate in self._files:
            base = candidate = f"{base}-{_short_hash(name)}"
        while candidate in self._files:
            n += 1
            candidate = f"{base}-{n}"
        self._files.add(candidate)
        return candidate + ".yaml"

    def variable(self, connector: str, key: str, connector_id: str) -> str:
        base = f"{_words(connector) or 'CONNECTOR'}_{_key_words(key) or 'VALUE'}"
        if base[0].isdigit():
            base = "CONNECTOR_" + base
        if is_reserved_variable(base):
            base = RESERVED_PREFIX_ESCAPE + base
        candidate = base
        if candidate.lower() in self._variables:
            candidate = f"{base}_{_short_hash(connector_id + chr(0) + key).upper()}"
        n = 1
        while candidate.lower() in self._variables:
            n += 1
            candidate = f"{base}_{n}"
        self._variables.add(candidate.lower())
        return candidate
