"""Evaluating a run's rules over many connectors: each rule runs once per distinct view of
what it reads, and a connector's values are handed to the library only for the rules
whose view was not seen before.

Handing values to the CEL library is what a check spends (microseconds per string, far
more than evaluating); connectors of one repository share most of what a rule reads
(hosts, teams, mapping lists), so a rule's verdict is kept by the values it reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from reconciler.celpolicy import library
from reconciler.celpolicy.analysis import PRESENT
from reconciler.celpolicy.compile import PolicyRule
from reconciler.celpolicy.view import Tree, connector_view, read_trees
from reconciler.model import ConnectorSpec
from reconciler.secret import CREDENTIALS_PATH, mask_value

if TYPE_CHECKING:
    import cel

_REASON_CHARS: Final = 300
#: What a rule's run came to: None (it holds), or why it does not ("" when it is false).
Outcome = str | None

_KEYS: Final[Mapping[str, Callable[[ConnectorSpec], Any]]] = {
    "name": lambda s: s.name,
    "description": lambda s: s.description,
    "lifecycleStatus": lambda s: s.lifecycle_status,
    "connectorType": lambda s: s.connector_type,
    "endpointUrl": lambda s: s.endpoint_url,
    "version": lambda s: s.version,
    "mappings": lambda s: s.mappings,  # a tuple of frozen FieldMappings
    "syncSettings": lambda s: s.sync_settings,
    "labels": lambda s: tuple(sorted(s.labels.items())),
    "authentication": lambda s: (
        s.authentication.type,
        tuple(sorted(s.authentication.credentials.items())),
    ),
}
_PER_CONNECTOR: Final = ("connector", "current", "change")
_MISSING: Final = object()


class Judge:
    """The rules of one run (one environment), with what each verdict was kept by."""

    def __init__(
        self, rules: Sequence[PolicyRule], environment: str | None, shared: Mapping[str, Any]
    ) -> None:
        self.rules = tuple(rules)
        self.environment = environment
        self.shared = dict(shared)
        self.parts = [_parts(rule) for rule in self.rules]
        self.memo: dict[tuple[int, tuple[Any, ...]], Outcome] = {}
        self._trees: dict[tuple[int, ...], dict[str, Tree]] = {}

    def judge(
        self,
        name: str,
        connector: ConnectorSpec,
        current: ConnectorSpec | None,
        change: Mapping[str, Any] | None,
    ) -> list[tuple[PolicyRule, Outcome]]:
        """The rules that apply to connector `name` and do not hold, each with its reason."""
        applicable = [i for i, r in enumerate(self.rules) if r.applies(name, self.environment)]
        seen: dict[tuple[str, str], Any] = {}
        outcomes: dict[int, Outcome] = {}
        missed: list[tuple[int, tuple[Any, ...] | None]] = []
        for i in applicable:
            parts = self.parts[i]
            key = None
            if parts is not None:
                values = tuple(_value(p, connector, current, change, seen) for p in parts)
                key = (i, values)
                found = self.memo.get(key, _MISSING)
                if found is not _MISSING:
                    outcomes[i] = found  # type: ignore[assignment]
                    continue
            missed.append((i, key))
        if missed:
            context = self._context(tuple(i for i, _ in missed), connector, current, change)
            for i, key in missed:
                outcome = _run(self.rules[i], context)
                outcomes[i] = outcome
                if key is not None:
                    self.memo[key] = outcome
        return [(self.rules[i], outcomes[i]) for i in applicable if outcomes[i] is not None]

    def _context(
        self,
        indexes: tuple[int, ...],
        connector: ConnectorSpec,
        current: ConnectorSpec | None,
        change: Mapping[str, Any] | None,
    ) -> cel.Context:
        trees = self._trees.get(indexes)
        if trees is None:
            paths = (p for i in indexes for p in self.rules[i].paths)
            trees = self._trees[indexes] = read_trees(paths)
        variables = {
            **self.shared,
            # The desired spec holds secret references (`${env:NAME}`), never their values.
            "connector": connector_view(connector, trees.get("connector", {})),
            "current": None
            if current is None
            else connector_view(current, trees.get("current", {}), masked=True),
            "change": None if change is None else dict(change),
        }
        return library.context(variables)


def _parts(rule: PolicyRule) -> tuple[tuple[str, str], ...] | None:
    """The top-level fields of the per-connector variables a rule reads (what its verdict
    is kept by), or None when it reads one of them whole (never kept)."""
    parts: set[tuple[str, str]] = set()
    for path in rule.paths:
        if path[0] not in _PER_CONNECTOR:
            continue  # environment and project are the same for every connector of a run
        if len(path) == 1:
            return None
        parts.add((path[0], path[1]))
    return tuple(sorted(parts))


def _value(
    part: tuple[str, str],
    connector: ConnectorSpec,
    current: ConnectorSpec | None,
    change: Mapping[str, Any] | None,
    seen: dict[tuple[str, str], Any],
) -> Any:
    found = seen.get(part, _MISSING)
    if found is not _MISSING:
        return found
    root, field = part
    value: Any
    if root == "change":
        value = None if change is None else _hashable(change.get(field)) if field != PRESENT else 1
    else:
        spec = connector if root == "connector" else current
        if spec is None:
            value = None
        elif field == PRESENT:
            value = 1
        elif field == "authentication" and root == "current":
            # Kept by what the rule is shown: CXone's credentials as view.py masks them.
            shown = mask_value(CREDENTIALS_PATH, dict(spec.authentication.credentials))
            value = (spec.authentication.type, tuple(sorted(shown.items())))
        else:
            value = _KEYS[field](spec)
    seen[part] = found = _Keyed(value)
    return found


class _Keyed:
    """A value in a verdict's key, hashed once (a connector's mappings are in the keys of
    several rules)."""

    __slots__ = ("hash", "value")

    def __init__(self, value: Any) -> None:
        self.value = value
        self.hash = hash(value)

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Keyed) and self.hash == other.hash and self.value == other.value


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def _run(rule: PolicyRule, context: cel.Context) -> Outcome:
    try:
        result = rule.program.execute(context)
    except Exception as exc:  # the library raises ValueError/TypeError/KeyError/RuntimeError
        return reason_of(exc)
    if result is True:
        return None
    if result is False:
        return ""
    return f"the rule gave {_shown(result)}, not true or false"


def reason_of(exc: Exception) -> str:
    """A run-time failure of a rule in one line: why it could not be evaluated."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, KeyError):
        text = f"no such key: {text}"
    return (text or type(exc).__name__)[:_REASON_CHARS]


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
