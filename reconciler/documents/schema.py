"""JSON Schema validation of loaded YAML documents, with every error mapped back to the YAML
node that caused it and phrased so a user knows what to change.

`jsonschema` (slow to import: ~100 ms) is imported only to explain a document the Rust
validator (reconciler.documents.fast_schema) rejects; our own schemas are checked for
well-formedness by the tests (tests/load/test_fast_schema.py), not on every run.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any, Final

from reconciler.documents.fast_schema import fast_validator, inline_refs
from reconciler.documents.yamlload import LoadedDocument
from reconciler.model import Diagnostic, SourceLocation

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

SCHEMA_PACKAGE: Final = "reconciler.schemas"
CONNECTOR_SCHEMA: Final = "connector.schema.json"
PROJECT_SCHEMA: Final = "project.schema.json"
RULE: Final = "schema"

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_TYPE_NAMES: Final = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def load_schema(name: str) -> dict[str, Any]:
    """A published schema from the `reconciler.schemas` resource package."""
    text = files(SCHEMA_PACKAGE).joinpath(name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def published_schema_bytes(name: str) -> bytes:
    """A published schema's bytes as the package ships them. A pip install has no schemas/
    folder to point an editor at: dump and init copy the connector schema into the project,
    where the `# yaml-language-server: $schema=` line of every connector file finds it."""
    return files(SCHEMA_PACKAGE).joinpath(name).read_bytes()


@dataclass(frozen=True, slots=True)
class SchemaFinding:
    """One schema violation: where in the document, and what to tell the user."""

    path: tuple[str | int, ...]
    message: str
    #: Points at the key rather than the value (unknown keys).
    at_key: bool = False


class SchemaChecker:
    """A compiled validator for one schema; build once, check many documents.

    A Rust validator (jsonschema_rs, ~1,000× faster) answers "valid?" first; only a document
    it rejects goes through `jsonschema`, whose errors carry what the messages need. Where the
    two disagree, `jsonschema` decides: a document it finds nothing wrong with is valid.

    `schema` is trusted to be a well-formed 2020-12 schema (ours are, by test): it is not
    checked here, and `jsonschema` is imported and compiled only for the first rejection.
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        # Same rules, fewer reference lookups: 20,000 mappings would resolve 20,000 `$ref`s.
        self._compiled: Mapping[str, Any] = inline_refs(schema, schema)
        self._fast = fast_validator(self._compiled)
        self._slow: Draft202012Validator | None = None

    @property
    def schema(self) -> Mapping[str, Any]:
        """The schema documents are judged by (`$ref`s inlined)."""
        return self._compiled

    def findings(self, data: Any) -> list[SchemaFinding]:
        if self._fast_accepts(data):
            return []
        out: list[SchemaFinding] = []
        for error in self._explainer().iter_errors(data):
            out.extend(_explain(error))
        return out

    def _explainer(self) -> Draft202012Validator:
        if self._slow is None:
            # Here, not at the top: ~100 ms of imports that a valid document never needs.
            from jsonschema import Draft202012Validator

            self._slow = Draft202012Validator(self._compiled)
        return self._slow

    def _fast_accepts(self, data: Any) -> bool:
        if self._fast is None:
            return False
        try:
            return self._fast.is_valid(data)
        except ValueError:  # a value with no JSON type (bytes, a set): jsonschema judges it
            return False

    def check(self, document: LoadedDocument, data: Any | None = None) -> list[Diagnostic]:
        """Diagnostics for `data` (default: the document's own data) at its YAML locations."""
        target = document.data if data is None else data
        return [to_diagnostic(f, document) for f in self.findings(target)]


def to_diagnostic(finding: SchemaFinding, document: LoadedDocument) -> Diagnostic:
    location: SourceLocation | None = None
    if finding.at_key:
        location = document.key_locations.get(finding.path)
    if location is None:
        location = document.location_of(finding.path)
    return Diagnostic("error", finding.message, location, RULE)


@cache
def connector_checker() -> SchemaChecker:
    return SchemaChecker(load_schema(CONNECTOR_SCHEMA))


@cache
def partial_connector_checker() -> SchemaChecker:
    """The connector schema with nothing required: for merge patches (overrides) that set
    only some fields; types, patterns and enums still apply."""
    return SchemaChecker(_without_required(load_schema(CONNECTOR_SCHEMA)))


def _without_required(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_required(v) for k, v in node.items() if k not in ("required", "if")}
    if isinstance(node, list):
        return [_without_required(v) for v in node]
    return node


@cache
def project_checker() -> SchemaChecker:
    return SchemaChecker(load_schema(PROJECT_SCHEMA))


def dotted(path: Iterable[str | int]) -> str:
    """`("mappings", 2, "direction")` → `mappings[2].direction` (how users read it)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "top level"


def _explain(error: ValidationError) -> list[SchemaFinding]:
    path = tuple(error.absolute_path)
    where = dotted(path)
    validator = error.validator
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    value = error.instance
    if "propertyNames" in error.schema_path and isinstance(value, str):
        # jsonschema checks key names without adding them to the path: point at the key.
        detail = schema.get("patternErrorMessage") or error.message
        return [SchemaFinding((*path, value), f"{where}: key '{value}': {detail}", at_key=True)]
    if validator == "required":
        missing = _quoted_name(error.message)
        title = schema.get("title") if path else None  # the root's title says nothing new
        suffix = f" ({title})" if title else ""
        return [SchemaFinding(path, f"{where}: missing required key '{missing}'{suffix}")]
    if validator == "additionalProperties" and isinstance(value, Mapping):
        allowed = sorted(schema.get("properties", {}))
        extras = [k for k in value if k not in schema.get("properties", {})]
        return [
            SchemaFinding((*path, key), _unknown_key(key, where, allowed), at_key=True)
            for key in extras
        ]
    if validator == "enum":
        choices = error.validator_value if isinstance(error.validator_value, list) else []
        options = [str(o) for o in choices]
        message = f"{where}: {_show(value)} is not one of {', '.join(options)}"
        return [SchemaFinding(path, message + _did_you_mean(value, options))]
    if validator == "const":
        return [SchemaFinding(path, f"{where}: must be {_show(error.validator_value)}")]
    if validator == "type":
        return [SchemaFinding(path, _type_message(where, error.validator_value, value))]
    if validator == "pattern":
        explained = schema.get("patternErrorMessage")
        detail = explained or f"does not match the pattern {error.validator_value}"
        return [SchemaFinding(path, f"{where}: {_show(value)} {detail}")]
    if validator == "not":
        detail = schema.get("notErrorMessage") or "is not allowed here"
        return [SchemaFinding(path, f"{where}: {_show(value)} {detail}")]
    if validator == "anyOf" and "patternErrorMessage" in schema:
        # A value that is neither a literal URL nor one with a ${var:} in it.
        return [SchemaFinding(path, f"{where}: {_show(value)} {schema['patternErrorMessage']}")]
    if validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return [SchemaFinding(path, _range_message(where, error, value))]
    if validator in ("minItems", "maxItems", "minLength", "maxLength", "maxProperties"):
        return [SchemaFinding(path, f"{where}: {_size_message(validator, error.validator_value)}")]
    return [SchemaFinding(path, f"{where}: {error.message}")]


def _quoted_name(message: str) -> str:
    # jsonschema says "'clientSecret' is a required property".
    return message.split("'")[1] if message.count("'") >= 2 else message


def _unknown_key(key: str, where: str, allowed: list[str]) -> str:
    inside = "" if where == "top level" else f" in {where}"
    hint = _did_you_mean(key, allowed)
    listed = f"; allowed: {', '.join(allowed)}" if allowed and not hint else ""
    return f"unknown key '{key}'{inside}{hint}{listed}"


def _did_you_mean(value: object, options: list[str]) -> str:
    if not isinstance(value, str):
        return ""
    folded = {o.lower(): o for o in options}
    if value.lower() in folded:
        return f" (did you mean '{folded[value.lower()]}'?)"
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _show(value: object) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= 80 else value[:77] + "..."
        # A control character would break the one-line message (or the terminal).
        return "'" + _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", shown) + "'"
    return (
        json.dumps(value) if isinstance(value, bool | int | float | None) else type(value).__name__
    )


def _type_message(where: str, expected: object, value: object) -> str:
    names = expected if isinstance(expected, list) else [expected]
    wanted = " or ".join(_TYPE_NAMES.get(str(n), str(n)) for n in names)
    got = _describe(value)
    message = f"{where}: expected {wanted}, got {got}"
    if "string" in names and isinstance(value, bool | int | float):
        # YAML read `1.0` as a number and `yes` as a boolean.
        message += f'; quote it: "{_yaml_text(value)}"'
    if value is None:
        message += " (the value is empty)"
    return message


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "null"


def _yaml_text(value: bool | int | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _range_message(where: str, error: ValidationError, value: object) -> str:
    bound = error.validator_value
    words = {
        "minimum": f"at least {bound}",
        "maximum": f"at most {bound}",
        "exclusiveMinimum": f"greater than {bound}",
        "exclusiveMaximum": f"less than {bound}",
    }
    return f"{where}: {_show(value)} is out of range; must be {words[str(error.validator)]}"


def _size_message(validator: str, bound: object) -> str:
    return {
        "minItems": f"needs at least {bound} item(s)",
        "maxItems": f"has more than {bound} items",
        "minLength": "must not be empty" if bound == 1 else f"needs at least {bound} characters",
        "maxLength": f"is longer than {bound} characters",
        "maxProperties": f"has more than {bound} entries",
    }[validator]
