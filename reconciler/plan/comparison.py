"""Plans of several environments side by side (`cxrecon plan -e sandbox -e production`, or
`-e all`): per connector, the action each environment plans and, per field, the value each
would hold after apply, so "what will production get that sandbox already has?" is one read.

A field is listed when its value after apply differs between environments or some
environment's plan changes it. Credentials show where each value comes from (`${env:NAME}`),
never a value; every other secret-bearing path is masked. Pure: the plans are made elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from reconciler.hashing import canonical_json
from reconciler.plan.changes import Action, ConnectorChange, Plan
from reconciler.plan.diff import JsonValue, format_path
from reconciler.plan.document import create_fields, credential_source, plan_document
from reconciler.plan.essence import SECTIONS, Essence
from reconciler.secret import MASK, is_secret_path

#: The version of the comparison's JSON shape (schemas/plan-comparison.schema.json).
FORMAT_VERSION: Final = 1
#: An environment whose plan does not mention the connector at all (neither declared there
#: nor managed by cxrecon in that tenant).
ABSENT: Final = "absent"


@dataclass(frozen=True, slots=True)
class FieldAcross:
    """One field: its value after apply per environment (None: absent there), the
    environments whose plan changes it, and those where an override sets it."""

    path: str
    values: Mapping[str, JsonValue]
    changed_in: frozenset[str]
    overridden_in: frozenset[str]

    @property
    def differs(self) -> bool:
        return len({_key(v) for v in self.values.values()}) > 1


@dataclass(frozen=True, slots=True)
class ConnectorAcross:
    """One connector: the action per environment (`absent` where no plan has it)."""

    name: str
    actions: Mapping[str, str]
    fields: tuple[FieldAcross, ...]

    @property
    def differs(self) -> bool:
        return len(set(self.actions.values())) > 1 or any(f.differs for f in self.fields)


@dataclass(frozen=True)
class Comparison:
    environments: tuple[str, ...]
    plans: Mapping[str, Plan]
    #: Connectors that differ between environments or change in one of them, by name.
    connectors: tuple[ConnectorAcross, ...]
    #: Connectors the same in every environment and unchanged everywhere.
    same: int

    @property
    def differences(self) -> int:
        return sum(1 for c in self.connectors if c.differs)


def compare(plans: Mapping[str, Plan]) -> Comparison:
    """Compare the plans of each environment (`plans` in the order to show them)."""
    environments = tuple(plans)
    by_name: dict[str, dict[str, ConnectorChange]] = {}
    for env, plan in plans.items():
        for change in plan.changes:
            by_name.setdefault(change.name, {})[env] = change
    listed: list[ConnectorAcross] = []
    same = 0
    for name in sorted(by_name):
        across = _connector(name, environments, by_name[name])
        if across.differs or any(f.changed_in for f in across.fields) or _acts(across):
            listed.append(across)
        else:
            same += 1
    return Comparison(environments, dict(plans), tuple(listed), same)


def _acts(across: ConnectorAcross) -> bool:
    return any(a not in (Action.NOOP.value, ABSENT) for a in across.actions.values())


def _connector(
    name: str, environments: Sequence[str], changes: Mapping[str, ConnectorChange]
) -> ConnectorAcross:
    leaves = {env: dict(_after_apply(change)) for env, change in changes.items()}
    touched = {env: _changed_paths(change) for env, change in changes.items()}
    paths: dict[tuple[str, ...], None] = {}
    for env in environments:
        paths.update(dict.fromkeys(leaves.get(env, {})))
    fields: list[FieldAcross] = []
    for parts in sorted(paths, key=_order):
        values = {env: leaves.get(env, {}).get(parts) for env in environments}
        changed = frozenset(env for env in changes if any(_related(parts, t) for t in touched[env]))
        overridden = frozenset(
            env
            for env, change in changes.items()
            if change.desired is not None
            and any(parts[: len(p)] == p for p in change.desired.overridden)
        )
        field = FieldAcross(format_path(parts), values, changed, overridden)
        if field.differs or changed:
            fields.append(field)
    actions = {env: (_action(changes[env]) if env in changes else ABSENT) for env in environments}
    return ConnectorAcross(name, actions, tuple(fields))


def _action(change: ConnectorChange) -> str:
    return "re-create" if change.deleted is not None else change.action.value


def _order(parts: tuple[str, ...]) -> tuple[int, tuple[str, ...]]:
    return (SECTIONS.index(parts[0]) if parts[0] in SECTIONS else len(SECTIONS), parts)


def _related(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    size = min(len(a), len(b))
    return a[:size] == b[:size]


def _changed_paths(change: ConnectorChange) -> list[tuple[str, ...]]:
    if not change.action.writes:
        return []
    return [f.parts for f in create_fields(change)]


def _after_apply(change: ConnectorChange) -> Iterator[tuple[tuple[str, ...], JsonValue]]:
    """Every leaf of what CXone holds for this connector once the plan is applied."""
    essence: Essence | None
    if change.action.writes and change.desired is not None:
        essence = change.desired_essence  # git's values (CXone's for ignored fields)
    elif change.remote is not None:
        essence = change.remote.essence  # nothing written: CXone keeps what it has
    else:
        essence = None  # observed or in error, and not in CXone
    if essence is None:
        return
    doc: Mapping[str, Any] = dict(essence.doc)
    if change.transition is not None and change.desired is None:
        doc = {**doc, "lifecycleStatus": change.transition[1]}  # an orphan under --prune
    for section in SECTIONS:
        yield from _leaves(change, (section,), doc.get(section))


def _leaves(
    change: ConnectorChange, parts: tuple[str, ...], value: Any
) -> Iterator[tuple[tuple[str, ...], JsonValue]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(change, (*parts, str(key)), item)
        return
    if value is None:
        return
    if parts[:2] == ("authentication", "credentials") and len(parts) == 3:
        # What apply writes, or (in sync) what CXone holds already: the same reference; a
        # credential that is not secret is shown as it is (the essence masked what it cannot
        # know).
        writes = change.action.writes or change.action is Action.NOOP
        reference = credential_source(change, parts[2]) if writes else None
        if reference is not None:
            yield parts, reference
        else:
            yield parts, MASK if is_secret_path(parts) else value
    elif is_secret_path(parts):
        yield parts, MASK
    else:
        yield parts, value


def _key(value: JsonValue) -> bytes:
    # ASCII-escaped: a lone surrogate CXone sent is a value to compare, not an error.
    return canonical_json(value, ascii=True)


# --- JSON ------------------------------------------------------------------------


def comparison_document(comparison: Comparison) -> dict[str, Any]:
    """The JSON shape of schemas/plan-comparison.schema.json; each environment's whole plan
    is embedded as `plan --format json` prints it."""
    return {
        "formatVersion": FORMAT_VERSION,
        "environments": list(comparison.environments),
        "summary": {
            "connectors": len(comparison.connectors),
            "differences": comparison.differences,
            "same": comparison.same,
        },
        "connectors": [
            {
                "name": c.name,
                "actions": dict(c.actions),
                "differs": c.differs,
                "fields": [
                    {
                        "path": f.path,
                        "values": dict(f.values),
                        "differs": f.differs,
                        "changedIn": sorted(f.changed_in),
                        "overriddenIn": sorted(f.overridden_in),
                    }
                    for f in c.fields
                ],
            }
            for c in comparison.connectors
        ],
        "plans": {env: plan_document(plan) for env, plan in comparison.plans.items()},
    }
