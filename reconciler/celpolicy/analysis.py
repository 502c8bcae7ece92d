"""What a rule refers to and what it may cost: unknown variables, fields and functions are
named before anything runs, and a rule whose worst case is too large is refused.

The worst case is estimated as Kubernetes does for its CEL rules: every list a rule can
iterate has a known largest size (the connector schema's maxItems, or the literal's
length), a comprehension costs its range times its body, and a value's size grows only
through `+`, literals and map().
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Union

from reconciler.celpolicy.syntax import Node, RuleSyntaxError

#: Estimated steps one evaluation of a rule may take (under a second in the library).
MAX_COST: Final = 5_000_000
#: Estimated elements (list items, string characters) a value inside a rule may reach.
MAX_SIZE: Final = 1_000_000

#: A field's shape: a mapping of known fields, ("list", element), ("map", value), or a leaf
#: ("scalar", the largest string length).
Shape = Union["Fields", tuple[Any, ...]]


@dataclass(frozen=True)
class Fields:
    """An object with known fields; `size` bounds the whole value's elements."""

    fields: Mapping[str, Shape] = field(default_factory=dict)
    size: int = 1


#: A string read from data counts 64 (it is shared, not copied, until `+` builds one).
_TEXT: Final = ("scalar", 64)
_NUMBER: Final = ("scalar", 1)
_MAPPING: Final = Fields(
    {"cxoneField": _TEXT, "crmField": _TEXT, "direction": _TEXT, "transformation": _TEXT},
    size=4 * 64,
)
_CONNECTOR: Final = Fields(
    {
        "name": _TEXT,
        "description": _TEXT,
        "lifecycleStatus": _TEXT,
        "connectorType": _TEXT,
        "endpointUrl": _TEXT,
        "version": _TEXT,
        "authentication": Fields({"type": _TEXT, "credentials": ("map", _TEXT)}, size=16 * 64),
        # schemas/connector.schema.json: mappings maxItems 500, labels maxProperties 32.
        "mappings": ("list", _MAPPING, 500),
        "syncSettings": Fields(
            {"batchSize": _NUMBER, "retryAttempts": _NUMBER, "syncIntervalMinutes": _NUMBER},
            size=3,
        ),
        "labels": ("map", _TEXT, 32),
    },
    size=600 * 4 * 64,
)
_CHANGE: Final = Fields(
    {"action": _TEXT, "fields": ("list", _TEXT, 200), "deactivates": _NUMBER}, size=200 * 64
)
_PROJECT: Final = Fields(
    {"name": _TEXT, "deactivations": _NUMBER, "changes": ("map", _NUMBER, 16)}, size=64 * 16
)
#: The variables a rule sees (docs/policies.md describes each).
VARIABLES: Final[Mapping[str, Shape]] = {
    "connector": _CONNECTOR,
    "current": _CONNECTOR,
    "change": _CHANGE,
    "environment": _TEXT,
    "project": _PROJECT,
}
#: Functions the library provides (standard CEL); anything else is named as unknown.
FUNCTIONS: Final = frozenset(
    {"size", "contains", "startsWith", "endsWith", "matches", "string", "int", "uint"}
    | {"double", "bytes", "type", "duration", "timestamp", "dyn"}
    | {"getFullYear", "getMonth", "getDayOfMonth", "getDayOfWeek", "getDayOfYear"}
    | {"getHours", "getMinutes", "getSeconds", "getMilliseconds", "getDate"}
)


_BUILDS: Final = frozenset({"op", "list", "map", "macro"})
_CONVERSIONS: Final = frozenset({"string", "bytes", "dyn"})


@dataclass(frozen=True, slots=True)
class _Est:
    cost: int
    size: int  # largest number of elements / characters of the value
    shape: Shape | None = None  # None: unknown (a computed value)
    items: int = 1  # for a list or map: the most entries a comprehension may visit
    #: The data this value is, as a path from a variable (`*`: every list element).
    path: tuple[str, ...] | None = None


#: The last part of a read path that needs only the value's presence (`x == null`, or a
#: list a comprehension walks without reading its elements).
PRESENT: Final = "?"
EVERY: Final = "*"


@dataclass(frozen=True, slots=True)
class Reads:
    """What a rule reads: the variables, and the data paths below them (so a connector can
    be handed to the library with only those fields: converting values is what costs)."""

    variables: frozenset[str]
    paths: frozenset[tuple[str, ...]]


def check(tree: Node) -> Reads:
    """What `tree` reads; RuleSyntaxError (at the offending spot) for an unknown name,
    field or function, or a worst case over MAX_COST / MAX_SIZE."""
    checker = _Checker()
    checker.use(checker.est(tree, {}))
    return Reads(frozenset(checker.used), frozenset(checker.reads))


class _Checker:
    def __init__(self) -> None:
        self.used: set[str] = set()
        self.reads: set[tuple[str, ...]] = set()

    def use(self, *values: _Est) -> None:
        """`values` are read whole (compared, passed to a function, built into another)."""
        for value in values:
            if value.path is not None:
                self.reads.add(value.path)

    def est(self, node: Node, scope: Mapping[str, _Est]) -> _Est:
        result = getattr(self, "_" + node.kind)(node, scope)
        assert isinstance(result, _Est)
        # Data is read in place: only values the rule builds count against MAX_SIZE.
        built = result.size if node.kind in _BUILDS else 0
        if result.cost > MAX_COST or built > MAX_SIZE:
            what = "cost" if result.cost > MAX_COST else "size of a value"
            limit = MAX_COST if result.cost > MAX_COST else MAX_SIZE
            raise RuleSyntaxError(
                f"the rule's worst-case {what} is too large (estimated "
                f"{max(result.cost, built):,}; the limit is {limit:,}): a "
                "comprehension over a large list, or values built up inside one",
                node.offset,
            )
        return result

    def _lit(self, node: Node, scope: Mapping[str, _Est]) -> _Est:
        return _Est(1, max(1, len(node.value)))

    def _ident(self, node: Node, scope: Mapping[str, _Est]) -> _Est:
        if node.value in scope:
            bound = scope[node.value]
            return _Est(1, bound.size, bound.shape, bound.items, bound.path)
        shape = VARIABLES.get(node.value)
        if shape is None:
            known = ", ".join(sorted(VARIABLES))
            raise RuleSyntaxError(f"unknown variable '{node.value}' (known: {known})", node.offset)
        self.used.add(node.value)
        return dataclasses.replace(_of_shape(shape, 1), path=(node.value,))

    def _select(self, node: Node, scope: Mapping[str, _Est]) -> _Est:
        base = self.est(node.args[0], scope)
        found = _field(base, node)
        path = None if base.path is None else (*base.path, node.value)
        return _Est(base.cost + 1, found.size, found.shape, found.items, path)

    def _has(self, node: Node, scope: Mapping[str, _Est]) -> _Est:
        inner = self.est(node.args[0], scope)
        self.use(inner)
        return _Est(inner.cost, 1)

    def _index(self, node: Node, scope: Mapping[str, _Est]) -> _Est:
        base = self.est(node.args[0], scope)
        key = self.est(node.args[1], scope)
        element = _element(base)
        self.use(key)
        path = None
        if _is_list(base) and base.path is not None:
            path = (*base.path, EVERY)
        else:
            self.use(base)  # a map's key is only known when the rule runs: all of it
        cost = base.cost + key.cost + 1
        return _Est(cost, element.size, element.shape, element.items, path)

    def _list(self, node: Node, scope: Mapping[str, _Est]) -> _Est:
        parts = [self.est(a, scope) for a in node.args]
        self.use(*parts)
        size = sum(p.size for p in parts) + 1
        return _Est(sum(p.cost for p in parts) + 1, size, None, max(1, len(parts)))

    def _map(self, node: Node, scope: Mapping[str, _Est]) -> _Est:
        built = self._list(node, scope)
        return _Est(built.cost, built.size, None, max(1, len(node.args) // 2))

    def _op(self, node: Node, scope: Mapping[str, _Est]) -> _Est:
        parts = [self.est(a, scope) for a in node.args]
        nulls = [a.kind == "lit" and a.value == "null" for a in node.args]
        if node.value in ("==", "!=") and any(nulls):
            # `current == null` needs to know whether there is a current, nothing of it.
            for part in parts:
                if part.path is not None:
                    self.reads.add((*part.path, PRESENT))
        else:
            self.use(*parts)
        cost = sum(p.cost for p in parts) + 1
        if node.value == "+":
            size = parts[0].size + parts[1].size
            return _Est(cost + size, size, None, parts[0].items + parts[1].items)
        if node.value == "?:":
            return _Est(cost, max(parts[1].size, parts[2].size), None, max(p.items for p in parts))
        if node.value in ("==", "!=", "<", "<=", ">", ">="):
            # Strings compare as memory blocks; lists and maps element by element.
            cost += min(p.size for p in parts) // 64
        elif node.value == "in":
            cost += parts[1].items
        return _Est(cost, 1)

    def _call(self, node: Node, scope: Mapping[str, _Est]) -> _Est:
        if node.value not in FUNCTIONS:
            raise RuleSyntaxError(
                f"unknown function '{node.value}' (standard CEL functions: size, contains, "
                "startsWith, endsWith, matches, string, int, double, timestamp, duration…)",
                node.offset,
            )
        parts = [self.est(a, scope) for a in node.args]
        self.use(*parts)
        # matches() runs RE2 (linear time), contains() scans: cost the strings' lengths.
        cost = sum(p.cost + p.size for p in parts) + 1
        size = sum(p.size for p in parts) if node.value in _CONVERSIONS else 1
        return _Est(cost, max(1, size))

    def _macro(self, node: Node, scope: Mapping[str, _Est]) -> _Est:
        source = self.est(node.args[0], scope)
        name = node.args[1].value
        element = _element(source)
        if _is_list(source) and source.path is not None:
            element = dataclasses.replace(element, path=(*source.path, EVERY))
            self.reads.add((*source.path, EVERY, PRESENT))
        else:
            self.use(source)
        if name in VARIABLES:
            raise RuleSyntaxError(
                f"'{name}' names a rule variable; choose another name for the "
                "comprehension's variable",
                node.offset,
            )
        inner = {**scope, name: element}
        # map(x, predicate, transform): both run per element.
        bodies = [self.est(part, inner) for part in node.args[2:]]
        self.use(*bodies)
        cost = source.cost + source.items * (sum(b.cost for b in bodies) + 1)
        if node.value == "map":
            size = source.items * (bodies[-1].size + 1)
            return _Est(cost + size, size, None, source.items)
        if node.value == "filter":
            return _Est(cost, source.size, source.shape, source.items, source.path)
        return _Est(cost, 1)


def _of_shape(shape: Shape, cost: int) -> _Est:
    if isinstance(shape, Fields):
        return _Est(cost, shape.size, shape)
    kind = shape[0]
    if kind == "scalar":
        return _Est(cost, int(shape[1]), shape)
    items = int(shape[2]) if len(shape) > 2 else 1
    element = _of_shape(shape[1], 1)
    return _Est(cost, items * element.size, shape, items)


def _field(base: _Est, node: Node) -> _Est:
    shape = base.shape
    if isinstance(shape, Fields):
        found = shape.fields.get(node.value)
        if found is None:
            known = ", ".join(sorted(shape.fields))
            raise RuleSyntaxError(
                f"unknown field '{node.value}' (fields here: {known})", node.offset
            )
        return _of_shape(found, 1)
    if isinstance(shape, tuple) and shape[0] == "map":
        return _of_shape(shape[1], 1)
    if isinstance(shape, tuple):
        raise RuleSyntaxError(f"'{node.value}': a {shape[0]} has no fields", node.offset)
    return _Est(1, base.size)


def _is_list(value: _Est) -> bool:
    return isinstance(value.shape, tuple) and value.shape[0] == "list"


def _element(source: _Est) -> _Est:
    """An element of `source` (a list's item, a map's key) as a comprehension sees it."""
    shape = source.shape
    if isinstance(shape, tuple) and shape[0] == "list":
        return _of_shape(shape[1], 1)
    if isinstance(shape, tuple) and shape[0] == "map":
        return _Est(1, 64, _TEXT)
    return _Est(1, source.size, None, source.items)
