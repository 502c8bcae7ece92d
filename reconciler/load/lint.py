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
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from reconciler.documents.yamlload import LoadedDocument
from reconciler.load.catalog import (
    AUTH_CREDENTIALS,
    CXONE_FIELDS,
    IDENTITY_MAPPINGS,
    TRANSFORMATIONS,
    lookup_field,
)
from reconciler.load.lint_rules import Finding, Path_
from reconciler.load.lint_values import endpoint_findings, form_findings
from reconciler.model import LABEL_MANAGED_BY, LABEL_PREFIX, Diagnostic, SourceLocation

__all__ = [
    "duplicate_names",
    "lint_connector",
    "place",
]


_CASE_INSENSITIVE_CRMS: Final = frozenset({"SALESFORCE", "DYNAMICS"})


def lint_connector(data: Any, document: LoadedDocument) -> list[Finding]:
    """All findings for one connector document; tolerant of shapes the schema rejects."""
    if not isinstance(data, dict):
        return []
    findings: list[Finding] = []
    findings.extend(_mappings(data, document))
    findings.extend(_identity(data))
    findings.extend(_credentials(data))
    findings.extend(_labels(data))
    findings.extend(endpoint_findings(data))
    findings.extend(form_findings(data))
    return findings


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
