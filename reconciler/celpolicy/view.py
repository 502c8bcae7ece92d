"""What a rule is handed of a connector: only the fields the run's rules read.

Handing a value to the CEL library costs microseconds per string (its conversion, not the
evaluation, is what a check spends), so a connector is built for the rules from the paths
their analysis found (reconciler.celpolicy.analysis.Reads), not converted whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from reconciler.celpolicy.analysis import EVERY, PRESENT
from reconciler.model import ConnectorSpec
from reconciler.secret import CREDENTIALS_PATH, mask_value


class _Whole:
    """The marker of a part read whole."""


WHOLE: Final = _Whole()
#: A tree of read paths: a key's subtree, or WHOLE.
Tree = dict[str, Any] | _Whole

_FIELDS: Final[Mapping[str, Callable[[ConnectorSpec], Any]]] = {
    "name": lambda s: s.name,
    "description": lambda s: s.description,
    "lifecycleStatus": lambda s: s.lifecycle_status,
    "connectorType": lambda s: s.connector_type,
    "endpointUrl": lambda s: s.endpoint_url,
    "authentication": lambda s: s.authentication.to_api(),
    "mappings": lambda s: [m.to_api() for m in s.mappings],
    "syncSettings": lambda s: None if s.sync_settings is None else s.sync_settings.to_api(),
    "version": lambda s: s.version,
    "labels": lambda s: dict(s.labels),
}


def read_trees(paths: Iterable[tuple[str, ...]]) -> dict[str, Tree]:
    """Per variable, the tree of what is read below it."""
    roots: dict[str, Tree] = {}
    for path in sorted(paths, key=len):
        _insert(roots, path)
    return roots


def _insert(tree: dict[str, Any], path: tuple[str, ...]) -> None:
    node: Any = tree
    for i, part in enumerate(path):
        if node is WHOLE:
            return
        last = i == len(path) - 1
        if last:
            node[part] = WHOLE if part != PRESENT else node.get(part, {})
            return
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        node = child


def connector_view(spec: ConnectorSpec, tree: Tree, *, masked: bool = False) -> dict[str, Any]:
    """The API-shaped connector with only the parts `tree` names (all with WHOLE);
    credentials masked when `masked` (what CXone holds)."""
    if isinstance(tree, _Whole):
        body = spec.to_api()
    else:
        body = {}
        for key, sub in tree.items():
            if key == "mappings" and not isinstance(sub, _Whole):
                body[key] = _mappings(spec, sub)
                continue
            getter = _FIELDS.get(key)
            value = None if getter is None else getter(spec)
            if value is not None:
                body[key] = prune(value, sub)
    credentials = body.get("authentication", {}).get("credentials")
    if masked and isinstance(credentials, dict):
        # CXone masks write-only fields already; never rely on the other side for that.
        # Only those: every other credential is shown, as in plans (reconciler.secret).
        body["authentication"]["credentials"] = mask_value(CREDENTIALS_PATH, credentials)
    return body


_MAPPING_FIELDS: Final = {
    "cxoneField": "cxone_field",
    "crmField": "crm_field",
    "direction": "direction",
    "transformation": "transformation",
}


def _mappings(spec: ConnectorSpec, tree: dict[str, Any]) -> list[Any]:
    """The mappings with only the fields `tree` names, built straight from the spec (the
    mappings are most of a connector: no whole copy to prune)."""
    element = tree.get(EVERY)
    if element is None:
        return [m.to_api() for m in spec.mappings]  # read only as a whole list
    if isinstance(element, _Whole):
        return [m.to_api() for m in spec.mappings]
    attributes = [(key, _MAPPING_FIELDS[key]) for key in element if key in _MAPPING_FIELDS]
    out: list[Any] = []
    for mapping in spec.mappings:
        view: dict[str, Any] = {}
        for key, attribute in attributes:
            value = getattr(mapping, attribute)
            if value is not None:
                view[key] = value
        out.append(view)
    return out


def prune(value: Any, tree: Tree) -> Any:
    """`value` with only the parts `tree` names."""
    if isinstance(tree, _Whole):
        return value
    if isinstance(value, dict):
        return {k: prune(value[k], sub) for k, sub in tree.items() if k in value}
    if isinstance(value, list) and EVERY in tree:
        return [prune(item, tree[EVERY]) for item in value]
    return value
