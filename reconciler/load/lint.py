"""Lint rules beyond the JSON Schema: duplicate or unknown fields, transformations, identity
mappings, credentials per auth type, reserved labels, duplicate names across files, and
credentials written into URLs.

The schema holds what the CXone API refuses; a rule here that the API does not enforce (a
field outside the catalog, a missing identity mapping, http://) is a warning, so whatever a
tenant holds validates once dumped. Errors are API rules (duplicates, credentials of another
authentication type) and cxrecon's own (reserved labels, secrets in URLs).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from reconciler.documents.yamlload import LoadedDocument
from reconciler.load.catalog import (
    AUTH_CREDENTIALS,
    CXONE_FIELDS,
    IDENTITY_MAPPINGS,
    TRANSFORMATIONS,
    lookup_field,
)
from reconciler.model import LABEL_MANAGED_BY, LABEL_PREFIX, Diagnostic, Severity, SourceLocation
from reconciler.secret import is_secret_field, looks_secret

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    summary: str


#: Every lint rule, by stable id (documented in the README; `--strict` makes warnings errors).
RULES: Final[Mapping[str, Rule]] = {
    r.id: r
    for r in (
        Rule("duplicate-cxone-field", "error", "a cxoneField is mapped twice in one connector"),
        Rule("duplicate-crm-field", "error", "a crmField is mapped twice in one connector"),
        Rule(
            "bidirectional-without-transformation",
            "warning",
            "a BIDIRECTIONAL mapping has no transformation (types may drift)",
        ),
        Rule(
            "duplicate-crm-field-case",
            "warning",
            "two crmFields differ only in case (Salesforce and Dynamics ignore case)",
        ),
        Rule("unknown-transformation", "warning", "transformation is not in the documented set"),
        Rule("unknown-cxone-field", "warning", "cxoneField is not in the CXone field catalog"),
        Rule(
            "transformation-kind-mismatch",
            "warning",
            "transformation does not fit the field's kind (e.g. e164 on an e-mail)",
        ),
        Rule("read-only-cxone-field", "warning", "data would flow into a field CXone sets itself"),
        Rule("missing-identity-mapping", "warning", "the connector type's record id is not mapped"),
        Rule("auth-credentials", "error", "credential keys do not fit the authentication type"),
        Rule(
            "missing-credential", "warning", "a credential its authentication type needs is unset"
        ),
        Rule("credential-form", "warning", "tokenEndpoint is no https URL or headerName no header"),
        Rule("insecure-endpoint", "warning", "endpointUrl uses http://, not https://"),
        Rule("name-characters", "warning", "the name holds spaces or punctuation besides . _ -"),
        Rule("reserved-label", "error", "a label under cxrecon.io/ or managed-by (cxrecon's own)"),
        Rule("endpoint-host-mismatch", "warning", "endpointUrl host does not fit connectorType"),
        Rule("duplicate-connector-name", "error", "two files declare the same connector name"),
        Rule(
            "secret-in-url",
            "error",
            "a URL carries a credential (user-info, or a secret query parameter)",
        ),
    )
}

#: Host suffixes each hosted CRM serves its API from.
_CRM_HOSTS: Final = {
    "SALESFORCE": ("salesforce.com", "force.com", "salesforce.mil", "sfcrmproducts.cn"),
    "DYNAMICS": ("dynamics.com", "dynamics.cn", "microsoftdynamics.us", "appsplatform.us"),
}
_CASE_INSENSITIVE_CRMS: Final = frozenset({"SALESFORCE", "DYNAMICS"})
#: URLs inside free text (a description).
_URL_IN_TEXT: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s<>\"']+")


@dataclass(frozen=True, slots=True)
class Finding:
    """A lint result before it is placed: the document path it is about."""

    rule: str
    path: Path_
    message: str
    at_key: bool = False

    @property
    def severity(self) -> Severity:
        return RULES[self.rule].severity


def lint_connector(data: Any, document: LoadedDocument) -> list[Finding]:
    """All findings for one connector document; tolerant of shapes the schema rejects."""
    if not isinstance(data, dict):
        return []
    findings: list[Finding] = []
    findings.extend(_mappings(data, document))
    findings.extend(_identity(data))
    findings.extend(_credentials(data))
    findings.extend(_labels(data))
    findings.extend(_endpoint(data))
    findings.extend(_forms(data))
    return findings


def secrets_in_urls(data: Any) -> list[Finding]:
    """`secret-in-url` findings: credentials in endpointUrl, in a credentials value (such as
    tokenEndpoint) or in a URL in the description. CXone stores and shows these fields in
    clear, so a credential there leaks; the messages name the part, never its value."""
    if not isinstance(data, dict):
        return []
    candidates: list[tuple[Path_, str, list[str]]] = []
    url = data.get("endpointUrl")
    if isinstance(url, str):
        candidates.append((("endpointUrl",), "endpointUrl", [url]))
    auth = data.get("authentication")
    credentials = auth.get("credentials") if isinstance(auth, dict) else None
    if isinstance(credentials, dict):
        for key, value in credentials.items():
            if isinstance(value, str) and "://" in value and not is_secret_field(key):
                path: Path_ = ("authentication", "credentials", key)
                candidates.append((path, f"credentials.{key}", [value]))
    description = data.get("description")
    if isinstance(description, str) and "://" in description:
        candidates.append((("description",), "description", _URL_IN_TEXT.findall(description)))
    findings: list[Finding] = []
    for path, field, urls in candidates:
        for candidate in urls:
            problem = _url_credential(candidate)
            if problem is not None:
                findings.append(
                    Finding(
                        "secret-in-url",
                        path,
                        f"{field} {problem}; CXone stores and shows it in clear. Remove it "
                        "and give the secret to the connector as a credential "
                        "(authentication.credentials, as ${env:NAME} or ${file:PATH}); "
                        "rotate it if it was ever committed",
                    )
                )
                break
    return findings


def _url_credential(url: str) -> str | None:
    """What credential `url` carries, in words that do not repeat it; None if none."""
    # Lexically, not only as parsed: a password holding `#` or `?` would end the parsed
    # authority early and hide the `@` in the fragment or query.
    authority = url.split("://", 1)[-1].split("/", 1)[0]
    if "@" in authority and "?" not in authority.split("@", 1)[0]:
        return "carries credentials in its user-info part (user:password@host)"
    try:
        parts = urlsplit(url)
    except ValueError:
        return None  # the schema reports a malformed URL
    for where, text in (("query parameter", parts.query), ("fragment parameter", parts.fragment)):
        for name, value in parse_qsl(text, keep_blank_values=True):
            if value and looks_secret(name):
                return f"has a secret {where} '{name}'"
    return None


def place(finding: Finding, document: LoadedDocument) -> Diagnostic:
    location = document.key_locations.get(finding.path) if finding.at_key else None
    return Diagnostic(
        finding.severity,
        finding.message,
        location or document.location_of(finding.path),
        finding.rule,
    )


def _mapping_items(data: Mapping[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    mappings = data.get("mappings")
    if isinstance(mappings, list):
        for index, item in enumerate(mappings):
            if isinstance(item, dict):
                yield index, item


def _mappings(data: Mapping[str, Any], document: LoadedDocument) -> Iterator[Finding]:
    fold = data.get("connectorType") in _CASE_INSENSITIVE_CRMS
    first_cxone: dict[str, int] = {}
    first_crm: dict[str, int] = {}
    exact_crm: dict[str, int] = {}
    for i, item in _mapping_items(data):
        cxone, crm = item.get("cxoneField"), item.get("crmField")
        direction, transformation = item.get("direction"), item.get("transformation")
        if isinstance(cxone, str):
            if cxone in first_cxone:
                yield Finding(
                    "duplicate-cxone-field",
                    ("mappings", i, "cxoneField"),
                    f"cxoneField '{cxone}' is already mapped by "
                    f"{_mapping_ref(first_cxone[cxone], document)}; map each CXone field once",
                )
            else:
                first_cxone[cxone] = i
            yield from _field(i, cxone, direction, transformation)
        if isinstance(crm, str):
            # CXone refuses the same crmField twice; a twin differing only in case it takes,
            # though a case-insensitive CRM reads both as one field.
            if crm in exact_crm:
                yield Finding(
                    "duplicate-crm-field",
                    ("mappings", i, "crmField"),
                    f"crmField '{crm}' is already mapped by "
                    f"{_mapping_ref(exact_crm[crm], document)}; map each CRM field once",
                )
            elif fold and crm.lower() in first_crm:
                yield Finding(
                    "duplicate-crm-field-case",
                    ("mappings", i, "crmField"),
                    f"crmField '{crm}' differs only in case from the one mapped by "
                    f"{_mapping_ref(first_crm[crm.lower()], document)}; "
                    f"{data.get('connectorType')} reads both as one field",
                )
            exact_crm.setdefault(crm, i)
            first_crm.setdefault(crm.lower(), i)
        if direction == "BIDIRECTIONAL" and transformation is None:
            yield Finding(
                "bidirectional-without-transformation",
                ("mappings", i, "direction"),
                f"BIDIRECTIONAL mapping of '{cxone}' has no transformation; data-type "
                "mismatches may occur in one direction (add e.g. `transformation: trim`, or "
                "`none` to state that no conversion is intended)",
            )
        if isinstance(transformation, str) and transformation not in TRANSFORMATIONS:
            yield Finding(
                "unknown-transformation",
                ("mappings", i, "transformation"),
                f"unknown transformation '{transformation}'"
                + _suggest(transformation, TRANSFORMATIONS)
                + "; see the supported set in the README",
            )


def _field(i: int, cxone: str, direction: object, transformation: object) -> Iterator[Finding]:
    entry = lookup_field(cxone)
    if entry is None:
        yield Finding(
            "unknown-cxone-field",
            ("mappings", i, "cxoneField"),
            f"'{cxone}' is not a CXone field in the catalog"
            + _suggest(cxone, CXONE_FIELDS)
            + "; custom fields are written contact.custom.<name>",
        )
        return
    if entry.read_only and direction in ("INBOUND", "BIDIRECTIONAL"):
        yield Finding(
            "read-only-cxone-field",
            ("mappings", i, "direction"),
            f"'{cxone}' is set by CXone and cannot receive CRM data; use direction OUTBOUND",
        )
    spec = TRANSFORMATIONS.get(transformation) if isinstance(transformation, str) else None
    if spec is not None and spec.applies_to and entry.kind not in spec.applies_to:
        kinds = ", ".join(sorted(spec.applies_to))
        yield Finding(
            "transformation-kind-mismatch",
            ("mappings", i, "transformation"),
            f"transformation '{transformation}' applies to {kinds} fields, but '{cxone}' is "
            f"{entry.kind}",
        )


def _mapping_ref(index: int, document: LoadedDocument) -> str:
    location = document.locations.get(("mappings", index))
    return f"mappings[{index}]" + (f" (line {location.line})" if location else "")


def _identity(data: Mapping[str, Any]) -> Iterator[Finding]:
    rule = IDENTITY_MAPPINGS.get(str(data.get("connectorType")))
    if rule is None or not isinstance(data.get("mappings"), list):
        return
    wanted = {f.lower() for f in rule.crm_fields}
    for _, item in _mapping_items(data):
        crm = item.get("crmField")
        if isinstance(crm, str) and crm.lower() in wanted:
            return
    fields = " or ".join(f"'{f}'" for f in rule.crm_fields)
    yield Finding(
        "missing-identity-mapping",
        ("mappings",),
        f"{data['connectorType']} connectors need a mapping with crmField {fields} so records "
        f"can be matched; {rule.hint}",
    )


def _credentials(data: Mapping[str, Any]) -> Iterator[Finding]:
    auth = data.get("authentication")
    if not isinstance(auth, dict):
        return
    keys = AUTH_CREDENTIALS.get(str(auth.get("type")))
    credentials = auth.get("credentials")
    if keys is None or not isinstance(credentials, dict):
        return
    path: Path_ = ("authentication", "credentials")
    for key in keys.required:
        if key not in credentials:
            yield Finding(
                "missing-credential",
                path,
                f"{auth['type']} authentication needs credentials.{key}; CXone cannot reach the "
                f"CRM until it is set",
            )
    for key in credentials:
        if key not in keys.allowed:
            owner = [t for t, k in AUTH_CREDENTIALS.items() if key in k.allowed]
            hint = f" (it belongs to {owner[0]})" if owner else _suggest(key, keys.allowed)
            yield Finding(
                "auth-credentials",
                (*path, key),
                f"credentials.{key} is not used by {auth['type']} authentication{hint}; "
                f"expected: {', '.join(keys.allowed)}",
                at_key=True,
            )


def _labels(data: Mapping[str, Any]) -> Iterator[Finding]:
    labels = data.get("labels")
    if not isinstance(labels, dict):
        return
    for key in labels:
        if isinstance(key, str) and (key.startswith(LABEL_PREFIX) or key == LABEL_MANAGED_BY):
            yield Finding(
                "reserved-label",
                ("labels", key),
                f"label '{key}' is reserved: cxrecon writes {LABEL_MANAGED_BY} and "
                f"{LABEL_PREFIX}* itself; choose another key",
                at_key=True,
            )


def _endpoint(data: Mapping[str, Any]) -> Iterator[Finding]:
    hosts = _CRM_HOSTS.get(str(data.get("connectorType")))
    url = data.get("endpointUrl")
    if hosts is None or not isinstance(url, str):
        return
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return  # the schema reports a malformed URL
    if host and not any(host == h or host.endswith("." + h) for h in hosts):
        yield Finding(
            "endpoint-host-mismatch",
            ("endpointUrl",),
            f"{data['connectorType']} endpoints are normally under {' or '.join(hosts[:2])}, "
            f"not {host}; check connectorType and endpointUrl",
        )


#: A name's characters that no tool stumbles over: letters and digits of any script, '.', '_'
#: and '-'. CXone takes any character but control codes; spaces and other punctuation trip
#: up shells, globs (ignoreDifferences, `cxrecon sync NAME`) and variable names.
_PLAIN_NAME: Final = re.compile(r"(?:[^\W_]|[._-])+")
#: An HTTP header name (RFC 9110 token).
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _forms(data: Mapping[str, Any]) -> Iterator[Finding]:
    """Values CXone takes but that are likely mistakes: http:// endpoints, a token endpoint
    that is no https URL, a header name no HTTP client can send, a name with spaces."""
    name = data.get("name")
    if isinstance(name, str) and name and not _PLAIN_NAME.fullmatch(name):
        yield Finding(
            "name-characters",
            ("name",),
            f"name '{name}' holds spaces or punctuation other than '.', '_' and '-'; CXone "
            "takes it, but shells and globs need it quoted (rename it with previousNames)",
        )
    url = data.get("endpointUrl")
    if isinstance(url, str) and url.lower().startswith("http://"):
        yield Finding(
            "insecure-endpoint",
            ("endpointUrl",),
            "endpointUrl uses http://: CXone would send CRM data and credentials unencrypted; "
            "use https://",
        )
    auth = data.get("authentication")
    credentials = auth.get("credentials") if isinstance(auth, dict) else None
    if not isinstance(credentials, dict):
        return
    path: Path_ = ("authentication", "credentials")
    token = credentials.get("tokenEndpoint")
    if isinstance(token, str) and not _is_reference(token) and not _https_url(token):
        yield Finding(
            "credential-form",
            (*path, "tokenEndpoint"),
            "tokenEndpoint is not an https:// URL; the CRM's OAuth token URL usually is "
            "(e.g. https://login.salesforce.com/services/oauth2/token)",
        )
    header = credentials.get("headerName")
    if isinstance(header, str) and not _is_reference(header) and not _HEADER_NAME.fullmatch(header):
        yield Finding(
            "credential-form",
            (*path, "headerName"),
            f"headerName '{header}' is not an HTTP header name (letters, digits and '-', "
            "e.g. X-API-Key)",
        )


def _is_reference(value: str) -> bool:
    return value.startswith("${") and value.endswith("}")


def _https_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname)


def _suggest(value: str, options: Mapping[str, object] | Sequence[str]) -> str:
    close = difflib.get_close_matches(value, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def duplicate_names(named: Sequence[tuple[str, SourceLocation]]) -> list[Diagnostic]:
    """One error per later declaration of a name, naming the file that declared it first."""
    first: dict[str, SourceLocation] = {}
    out: list[Diagnostic] = []
    for name, location in named:
        earlier = first.get(name)
        if earlier is None:
            first[name] = location
            continue
        out.append(
            Diagnostic(
                "error",
                f"connector name '{name}' is also declared in {earlier.path} (line "
                f"{earlier.line}); names identify connectors in the tenant and must be "
                "unique — rename one of them",
                location,
                "duplicate-connector-name",
            )
        )
    return out
