"""`policies:` of cxrecon.yaml read into checked rules: each rule's CEL is read, its names,
fields, types and worst-case cost checked, and compiled once; every problem is located.

A problem is reported at the rule's `rule:` value as `policy 'NAME': …`, with the character
of the rule where it is, so `cxrecon.yaml:LINE:COL: error: policy 'NAME': …` is what every
command prints for it (config/project.py raises them with the file's other problems).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Final, Literal

from reconciler.celpolicy.analysis import Reads, check
from reconciler.celpolicy.library import compile_rule
from reconciler.celpolicy.syntax import RuleSyntaxError, parse
from reconciler.celpolicy.types import check as check_types
from reconciler.model import Diagnostic, SourceLocation

if TYPE_CHECKING:
    import cel

    from reconciler.documents.yamlload import LoadedDocument

PolicySeverity = Literal["error", "warning"]
#: Variables only a plan has (what CXone holds, what would change): `validate` skips
#: the rules that read them.
PLAN_ONLY: Final = frozenset({"current", "change"})
DIAGNOSTIC_RULE: Final = "policy"
_EVERY_CONNECTOR: Final = ("*",)


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """One entry of `policies:`, checked (its CEL is known to compile within the limits)."""

    name: str
    rule: str
    severity: PolicySeverity = "error"
    message: str | None = None
    environments: tuple[str, ...] | None = None  # None: every environment
    connectors: tuple[str, ...] = ("*",)
    #: Where `rule:` is written in cxrecon.yaml.
    location: SourceLocation | None = None
    #: The variables the rule reads (connector, current, change, environment, project).
    reads: frozenset[str] = frozenset()
    #: The data paths below them it reads (reconciler.celpolicy.analysis.Reads).
    paths: frozenset[tuple[str, ...]] = frozenset()

    def applies(self, connector: str, environment: str | None) -> bool:
        if self.environments is not None and environment not in self.environments:
            return False
        if self.connectors == _EVERY_CONNECTOR:
            return True
        return any(fnmatchcase(connector, glob) for glob in self.connectors)

    @property
    def needs_plan(self) -> bool:
        """Whether the rule reads what only a plan knows (`current`, `change`)."""
        return bool(self.reads & PLAN_ONLY)

    @property
    def program(self) -> cel.Program:
        return _program(self.rule)


@dataclass(frozen=True, slots=True)
class PolicySet:
    """Every `policies:` entry of the project, in file order."""

    rules: tuple[PolicyRule, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.rules)


def policies_from(document: LoadedDocument) -> tuple[PolicySet, tuple[Diagnostic, ...]]:
    """The checked `policies:` of a (schema-valid) project document, and a located error
    for each rule that does not read, refers to something unknown or may cost too much."""
    data = document.data if isinstance(document.data, dict) else {}
    raw = data.get("policies")
    if not isinstance(raw, list):
        return PolicySet(), ()
    rules: list[PolicyRule] = []
    problems: list[Diagnostic] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue  # the project schema reports it
        name = entry["name"]
        at = document.location_of(("policies", index, "rule"))
        if name in seen:
            where = document.location_of(("policies", index, "name"))
            problems.append(
                _diagnostic(
                    name,
                    f"the name is also used by policy #{seen[name] + 1}; names must be unique",
                    where,
                )
            )
            continue
        seen[name] = index
        problems.extend(_unknown_environments(document, index, name, entry, data))
        source = entry.get("rule")
        if not isinstance(source, str):
            continue  # the project schema reports it
        try:
            reads = _compile(source)
        except RuleSyntaxError as exc:
            problems.append(_diagnostic(name, _with_spot(str(exc), source, exc.offset), at))
            continue
        rules.append(_rule(entry, name, source, at, reads))
    return PolicySet(tuple(rules)), tuple(problems)


def _unknown_environments(
    document: LoadedDocument,
    index: int,
    name: str,
    entry: Mapping[str, Any],
    data: Mapping[str, Any],
) -> list[Diagnostic]:
    """An error per name in the entry's `environments` that cxrecon.yaml does not define
    (such a policy would silently never apply there)."""
    named = entry.get("environments")
    defined = data.get("environments")
    known = set(defined) if isinstance(defined, dict) else set()
    out: list[Diagnostic] = []
    for i, env in enumerate(named if isinstance(named, list) else ()):
        if isinstance(env, str) and env not in known:
            listed = ", ".join(sorted(known)) or "none"
            out.append(
                _diagnostic(
                    name,
                    f"environment '{env}' is not defined under environments (defined: "
                    f"{listed}); the policy would never apply there",
                    document.location_of(("policies", index, "environments", i)),
                )
            )
    return out


def _rule(
    entry: Mapping[str, Any],
    name: str,
    source: str,
    at: SourceLocation,
    reads: Reads,
) -> PolicyRule:
    environments = entry.get("environments")
    message = entry.get("message")
    return PolicyRule(
        name=name,
        rule=source,
        severity="warning" if entry.get("severity") == "warning" else "error",
        message=message if isinstance(message, str) else None,
        environments=tuple(str(e) for e in environments) if environments is not None else None,
        connectors=tuple(str(g) for g in entry.get("connectors") or ("*",)),
        location=at,
        reads=reads.variables,
        paths=reads.paths,
    )


def _compile(source: str) -> Reads:
    """The variables `source` reads; RuleSyntaxError for anything wrong with it."""
    tree = parse(source)
    reads = check(tree)
    check_types(tree)
    try:
        _program(source)
    except (ValueError, RuntimeError, TypeError) as exc:
        # Something our reader let through and the library refuses: its own words.
        raise RuleSyntaxError(_library_message(exc), 0) from None
    return reads


@functools.lru_cache(maxsize=256)
def _program(source: str) -> cel.Program:
    # Compiled once per process and rule text: the PolicyRule itself stays plain data, so a
    # Project still pickles.
    return compile_rule(source)


def _library_message(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "ERROR:" in line:
            return line.split("ERROR:", 1)[1].strip().removeprefix("<input>:")
    return lines[0][:200] if lines else type(exc).__name__


def _with_spot(message: str, source: str, offset: int) -> str:
    if "\n" not in source.strip() and len(source) <= 120 and offset < len(source):
        return f"{message} (character {offset + 1} of the rule: {source[offset : offset + 24]!r})"
    line = source.count("\n", 0, offset) + 1
    col = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return f"{message} (line {line}, column {col} of the rule)"


def _diagnostic(name: str, message: str, location: SourceLocation) -> Diagnostic:
    return Diagnostic("error", f"policy '{name}': {message}", location, DIAGNOSTIC_RULE)
