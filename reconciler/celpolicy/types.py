"""The types of a rule, checked before it runs: a rule must give true or false, and CEL never
converts between types, so `connector.name + 1` or `connector.endpointUrl && …` is a
located error at load, not a violation on every connector at run time.

Types are known from the variables (the connector's fields as the API shapes them) and
from literals; a value only known when the rule runs (`dyn()`, an index into a literal
map of mixed values) is `dyn` and passes every check, as in CEL's own checker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from reconciler.celpolicy.syntax import Node, RuleSyntaxError


@dataclass(frozen=True, slots=True)
class Type:
    """A CEL type: `name` (bool, int, uint, double, string, bytes, null, list, map, dyn);
    a list's element is `of`, a map's values `of`; `fields` for an object of known fields
    (a map with string keys to CEL)."""

    name: str
    of: Type | None = None
    fields: Mapping[str, Type] | None = None


DYN: Final = Type("dyn")
BOOL: Final = Type("bool")
INT: Final = Type("int")
STRING: Final = Type("string")
_NUMERIC: Final = frozenset({"int", "uint", "double"})
_ORDERED: Final = _NUMERIC | {"string", "bytes", "bool"}


def _obj(**fields: Type) -> Type:
    return Type("map", DYN, fields)


_MAPPING: Final = _obj(cxoneField=STRING, crmField=STRING, direction=STRING, transformation=STRING)
_CONNECTOR: Final = _obj(
    name=STRING,
    description=STRING,
    lifecycleStatus=STRING,
    connectorType=STRING,
    endpointUrl=STRING,
    version=STRING,
    authentication=_obj(type=STRING, credentials=Type("map", STRING)),
    mappings=Type("list", _MAPPING),
    syncSettings=_obj(batchSize=INT, retryAttempts=INT, syncIntervalMinutes=INT),
    labels=Type("map", STRING),
)
VARIABLES: Final[Mapping[str, Type]] = {
    "connector": _CONNECTOR,
    "current": _CONNECTOR,  # or null: `current == null` compares a map with null
    "change": _obj(action=STRING, fields=Type("list", STRING), deactivates=BOOL),
    "environment": STRING,
    "project": _obj(name=STRING, deactivations=INT, changes=Type("map", INT)),
}
#: What a function gives (its receiver or arguments are checked in `_call`).
_GIVES: Final[Mapping[str, Type]] = {
    "size": INT,
    "contains": BOOL,
    "startsWith": BOOL,
    "endsWith": BOOL,
    "matches": BOOL,
    "string": STRING,
    "int": INT,
    "uint": Type("uint"),
    "double": Type("double"),
    "bytes": Type("bytes"),
}
_STRING_FUNCTIONS: Final = frozenset({"contains", "startsWith", "endsWith", "matches"})


def check(tree: Node) -> None:
    """RuleSyntaxError (at the offending spot) for a rule that cannot give true or false or
    combines types CEL never converts."""
    found = _Checker().type(tree, {})
    if not _may_be(found, "bool"):
        raise RuleSyntaxError(
            f"the rule gives {_a(found)}, not true or false; compare it with something "
            '(e.g. == "…", > 0)',
            0,  # the whole rule
        )


def _may_be(found: Type, *names: str) -> bool:
    return found.name == "dyn" or found.name in names


def _a(found: Type) -> str:
    return ("an " if found.name[0] in "aeiou" else "a ") + found.name


class _Checker:
    def type(self, node: Node, scope: Mapping[str, Type]) -> Type:
        method = getattr(self, "_" + node.kind)
        result: Type = method(node, scope)
        return result

    def _lit(self, node: Node, scope: Mapping[str, Type]) -> Type:
        text = node.value
        if text in ("true", "false"):
            return BOOL
        if text == "null":
            return Type("null")
        if text[0] in "\"'" or text[:2].lower() in ("r'", 'r"'):
            return STRING
        if text[0] in "bB" or text[:2].lower() in ("rb", "br"):
            return Type("bytes")
        if text[-1] in "uU":
            return Type("uint")
        if not text.lower().startswith("0x") and any(c in text for c in ".eE"):
            return Type("double")
        return INT

    def _ident(self, node: Node, scope: Mapping[str, Type]) -> Type:
        return scope.get(node.value) or VARIABLES.get(node.value, DYN)

    def _select(self, node: Node, scope: Mapping[str, Type]) -> Type:
        base = self.type(node.args[0], scope)
        if base.fields is not None and node.value in base.fields:
            return base.fields[node.value]
        return base.of or DYN if base.name == "map" else DYN

    def _index(self, node: Node, scope: Mapping[str, Type]) -> Type:
        base = self.type(node.args[0], scope)
        self.type(node.args[1], scope)
        if base.name in ("list", "map"):
            return base.of or DYN
        return DYN

    def _has(self, node: Node, scope: Mapping[str, Type]) -> Type:
        self.type(node.args[0], scope)
        return BOOL

    def _list(self, node: Node, scope: Mapping[str, Type]) -> Type:
        return Type("list", _same([self.type(a, scope) for a in node.args]))

    def _map(self, node: Node, scope: Mapping[str, Type]) -> Type:
        for key in node.args[::2]:
            self.type(key, scope)
        return Type("map", _same([self.type(a, scope) for a in node.args[1::2]]))

    def _call(self, node: Node, scope: Mapping[str, Type]) -> Type:
        parts = [self.type(a, scope) for a in node.args]
        if node.member and node.value in _STRING_FUNCTIONS and not _may_be(parts[0], "string"):
            raise RuleSyntaxError(
                f"{node.value}() is a string function; here it is called on {_a(parts[0])} "
                "(convert it with string(…) first)",
                node.offset,
            )
        return _GIVES.get(node.value, DYN)

    def _macro(self, node: Node, scope: Mapping[str, Type]) -> Type:
        source = self.type(node.args[0], scope)
        element = source.of or DYN if source.name == "list" else DYN
        if source.name == "map":
            element = STRING if source.fields is not None or source.of is not None else DYN
        inner = {**scope, node.args[1].value: element}
        bodies = [self.type(part, inner) for part in node.args[2:]]
        if node.value == "map":
            for condition in bodies[:-1]:
                self._condition(condition, f"the condition of {node.value}()", node)
            return Type("list", bodies[-1])
        self._condition(bodies[0], f"the condition of {node.value}()", node)
        return source if node.value == "filter" else BOOL

    def _op(self, node: Node, scope: Mapping[str, Type]) -> Type:
        parts = [self.type(a, scope) for a in node.args]
        op = node.value
        if op in ("&&", "||") or (op == "!" and len(parts) == 1):
            for part in parts:
                if not _may_be(part, "bool"):
                    sides = "on both sides" if len(parts) == 2 else ""
                    raise RuleSyntaxError(
                        f"'{op}' needs true or false{' ' + sides if sides else ''}, not {_a(part)}",
                        node.offset,
                    )
            return BOOL
        if op == "?:":
            self._condition(parts[0], "the condition of '?:'", node)
            return parts[1] if parts[1] == parts[2] else DYN
        if op == "-" and len(parts) == 1:
            if not _may_be(parts[0], *_NUMERIC):
                raise RuleSyntaxError(f"'-' negates a number, not {_a(parts[0])}", node.offset)
            return parts[0]
        left, right = parts
        if op in ("==", "!="):
            return BOOL
        if op == "in":
            if not _may_be(right, "list", "map"):
                raise RuleSyntaxError(
                    f"'in' needs a list or a map on its right, not {_a(right)}", node.offset
                )
            return BOOL
        if op in ("<", "<=", ">", ">="):
            if _known(left, right) and not _comparable(left, right):
                raise RuleSyntaxError(_between(op, left, right), node.offset)
            return BOOL
        # Arithmetic: `+` also joins strings, bytes and lists; never two different types.
        joins = ("string", "bytes", "list") if op == "+" else ()
        for part in (left, right):
            if not _may_be(part, *_NUMERIC, *joins):
                raise RuleSyntaxError(_between(op, left, right), node.offset)
        if _known(left, right) and left.name != right.name:
            raise RuleSyntaxError(_between(op, left, right), node.offset)
        return left if left.name != "dyn" else right

    def _condition(self, found: Type, what: str, node: Node) -> None:
        if not _may_be(found, "bool"):
            raise RuleSyntaxError(f"{what} gives {_a(found)}, not true or false", node.offset)


def _same(types: list[Type]) -> Type:
    """The one type of `types` (a literal list's items), else dyn."""
    return types[0] if types and all(t == types[0] for t in types) else DYN


def _known(*types: Type) -> bool:
    return all(t.name != "dyn" for t in types)


def _comparable(left: Type, right: Type) -> bool:
    if left.name in _NUMERIC and right.name in _NUMERIC:
        return True  # CEL orders int, uint and double against each other
    return left.name == right.name and left.name in _ORDERED


def _between(op: str, left: Type, right: Type) -> str:
    return (
        f"'{op}' between {_a(left)} and {_a(right)}: CEL converts nothing; convert one side "
        "with int(…), double(…) or string(…)"
    )
