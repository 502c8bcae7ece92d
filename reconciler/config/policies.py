"""What cxrecon.yaml leaves to CXone, as rules: `ignoreDifferences` (fields, `labels: merge`)
and `managementPolicies` (`full`, `observe`, `create-only`), resolved per connector and
environment by `Policies.for_connector`. reconciler.plan.policy applies them to essences.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Final, Literal

Management = Literal["full", "observe", "create-only"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One `ignoreDifferences` or `managementPolicies` entry of cxrecon.yaml."""

    connectors: tuple[str, ...] = ("*",)
    environments: tuple[str, ...] | None = None  # None: every environment
    fields: tuple[str, ...] = ()
    labels_merge: bool = False
    management: Management | None = None

    def applies(self, connector: str, environment: str | None) -> bool:
        if self.environments is not None and environment not in self.environments:
            return False
        return any(fnmatchcase(connector, glob) for glob in self.connectors)


@dataclass(frozen=True, slots=True)
class Policy:
    """What the rules say about one connector in one environment."""

    ignore: tuple[str, ...] = ()
    labels_merge: bool = False
    management: Management = "full"

    @property
    def ignores(self) -> bool:
        return bool(self.ignore) or self.labels_merge


FULL: Final = Policy()


@dataclass(frozen=True, slots=True)
class Policies:
    """Every rule of the project; `for_connector` resolves them for one connector."""

    rules: tuple[Rule, ...] = ()
    environment: str | None = None

    def for_connector(self, name: str, declared: Management | None = None) -> Policy:
        ignore: list[str] = []
        merge = False
        management: Management = declared or "full"
        for rule in self.rules:
            if not rule.applies(name, self.environment):
                continue
            ignore.extend(rule.fields)
            merge = merge or rule.labels_merge
            if rule.management is not None:
                management = rule.management  # cxrecon.yaml wins over the connector file
        if not ignore and not merge and management == "full":
            return FULL
        return Policy(tuple(ignore), merge, management)


def rules_from(data: Mapping[str, Any]) -> tuple[Rule, ...]:
    """`ignoreDifferences` then `managementPolicies` (schema-checked already)."""
    rules: list[Rule] = []
    for raw in data.get("ignoreDifferences") or ():
        rules.append(
            Rule(
                connectors=tuple(raw.get("connectors", ("*",))),
                environments=tuple(raw["environments"]) if "environments" in raw else None,
                fields=tuple(raw.get("fields", ())),
                labels_merge=raw.get("labels") == "merge",
            )
        )
    for raw in data.get("managementPolicies") or ():
        rules.append(
            Rule(
                connectors=tuple(raw.get("connectors", ("*",))),
                environments=tuple(raw["environments"]) if "environments" in raw else None,
                management=raw["management"],
            )
        )
    return tuple(rules)
