"""The lint rules by stable id, and a finding before it is placed in its file: what
reconciler.load.lint and reconciler.load.lint_values report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from reconciler.model import Severity

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
