"""What each example of the convergence machine leaves to CXone (issue 15): ignoreDifferences
on some fields of some connectors and `management: observe` on others, written to the
example's cxrecon.yaml, and the machine's own model of them (independent of
reconciler.plan.policy): which paths are ignored, and a document with them taken out."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from hypothesis import strategies as st

from .support import ABSENT, NAMES, Edit, Parts, value_at

#: Fields a rule may leave to CXone, as essence paths ("*": every mapping) and as the rule
#: spells them (the plan's spelling and the dotted one).
IGNORABLE: Final[Mapping[Parts, str]] = {
    ("description",): "description",
    ("syncSettings", "batchSize"): "syncSettings.batchSize",
    ("labels", "tier"): "labels[tier]",
    ("mappings", "*", "transformation"): "mappings[*].transformation",
}


#: How someone in the CXone UI changes each ignorable field (the transformation of a mapping
#: changes with the machine's own mapping edits).
_UI_EDITS: Final[Mapping[Parts, Edit]] = {
    ("description",): Edit("description", "owned by the contact-center admins"),
    ("syncSettings", "batchSize"): Edit("syncSettings", {"batchSize": 42}),
    ("labels", "tier"): Edit("label", "set-in-the-ui", "tier"),
}


@dataclass(frozen=True)
class ProjectPolicies:
    """`ignored` fields of the connectors in `ignored_on`; `observed` connectors."""

    ignored: tuple[Parts, ...] = ()
    ignored_on: frozenset[str] = frozenset()
    observed: frozenset[str] = frozenset()

    def ui_edits(self) -> list[Edit]:
        """Edits "in the CXone UI" of the fields these rules leave to CXone."""
        return [_UI_EDITS[p] for p in self.ignored if p in _UI_EDITS]

    def config(self) -> dict[str, Any]:
        """The cxrecon.yaml holding these rules."""
        out: dict[str, Any] = {}
        if self.ignored and self.ignored_on:
            out["ignoreDifferences"] = [
                {
                    "connectors": sorted(self.ignored_on),
                    "fields": [IGNORABLE[p] for p in self.ignored],
                }
            ]
        if self.observed:
            out["managementPolicies"] = [
                {"connectors": sorted(self.observed), "management": "observe"}
            ]
        return out

    def paths(self, name: str, *docs: Mapping[str, Any]) -> list[Parts]:
        """The ignored essence paths of connector `name` in any of `docs` (mappings
        expanded over the keys they hold)."""
        if name not in self.ignored_on:
            return []
        found: list[Parts] = []
        for pattern in self.ignored:
            if "*" not in pattern:
                found.append(pattern)
                continue
            keys = {k for doc in docs for k in (doc.get("mappings") or {})}
            found.extend(("mappings", key, pattern[2]) for key in sorted(keys))
        return found

    def ignores(self, name: str, path: str) -> bool:
        """Whether a plan path (`syncSettings.batchSize`, `mappings[x].transformation`)
        is one this project leaves to CXone for `name`."""
        if name not in self.ignored_on:
            return False
        for pattern in self.ignored:
            spelled = IGNORABLE[pattern]
            if "*" in spelled:
                head, _, tail = spelled.partition("[*]")
                if path.startswith(head + "[") and path.endswith("]" + tail):
                    return True
            elif path == spelled:
                return True
        return False

    def strip(self, name: str, doc: Mapping[str, Any]) -> dict[str, Any]:
        """`doc` (an essence document) without the fields left to CXone."""
        out = copy.deepcopy(dict(doc))
        for parts in self.paths(name, doc):
            node: Any = out
            for part in parts[:-1]:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict):
                node.pop(parts[-1], None)
        return out

    def changed(self, name: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
        """The ignored paths whose values differ between two essence documents. A field of a
        mapping that is added or removed as a whole (a shown change of the mapping itself,
        e.g. self-heal removing one added in CXone) comes and goes with it: not a write of
        the ignored field."""
        return [
            "/".join(parts)
            for parts in self.paths(name, before, after)
            if value_at(before, parts) != value_at(after, parts)
            and not (value_at(before, parts) is ABSENT and value_at(after, parts) is ABSENT)
            and not (
                len(parts) > 2
                and (
                    value_at(before, parts[:-1]) is ABSENT or value_at(after, parts[:-1]) is ABSENT
                )
            )
        ]


#: Most examples leave something to CXone (an ignored field only matters once the machine
#: edits it in CXone and a run writes its section), some leave nothing.
project_policies: Final = st.one_of(
    st.builds(
        ProjectPolicies,
        ignored=st.lists(
            st.sampled_from(sorted(IGNORABLE)), unique=True, min_size=1, max_size=3
        ).map(tuple),
        ignored_on=st.sampled_from([frozenset(NAMES), frozenset(NAMES[:2])]),
        observed=st.sampled_from([frozenset(), frozenset(NAMES[2:])]),
    ),
    st.just(ProjectPolicies()),
)
