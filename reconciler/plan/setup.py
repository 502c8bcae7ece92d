"""The setup a merge needs: every `${env:}` / `${file:}` reference the plan's writes resolve,
so a reviewer sees "needs `FRESHDESK_API_KEY` in the production job" before approving.

A reference is needed when apply writes the credentials holding it: a create, or a patch of
`authentication` (an adoption writing credentials, a changed auth). A change that leaves the
credentials alone needs none, so an existing connector's secrets are not listed again.
Pure; `reconciler.cli.secrets` lists the same references for the whole environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.load.references import is_secret_reference
from reconciler.plan.changes import ConnectorChange, Plan, StepKind


@dataclass(frozen=True, slots=True)
class NeededSecret:
    """One reference the plan's apply resolves, and the connectors whose writes use it."""

    reference: str  # ${env:NAME} or ${file:PATH}
    kind: str  # env / file
    name: str  # NAME or PATH
    connectors: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "kind": self.kind,
            "name": self.name,
            "connectors": list(self.connectors),
        }


def writes_credentials(change: ConnectorChange) -> bool:
    """Whether apply sends `change`'s credentials (they are resolved then)."""
    return any(
        step.kind is StepKind.CREATE
        or (step.kind is StepKind.PATCH and "authentication" in step.sections)
        for step in change.steps
    )


def needed_secrets(plan: Plan) -> tuple[NeededSecret, ...]:
    """The references the plan's writes resolve, `${env:}` first, then by name."""
    users: dict[str, set[str]] = {}
    for change in plan.changes:
        if change.desired is None or not writes_credentials(change):
            continue
        for value in change.desired.spec.authentication.credentials.values():
            if is_secret_reference(value):
                users.setdefault(value, set()).add(change.name)
    needed = []
    for reference, connectors in users.items():
        kind, name = reference[2:-1].split(":", 1)
        needed.append(NeededSecret(reference, kind, name, tuple(sorted(connectors))))
    return tuple(sorted(needed, key=lambda n: (n.kind != "env", n.name)))


def where(environment: str | None) -> str:
    """`the production job`, or where apply runs when the plan names no environment."""
    return f"the {environment} job" if environment else "the job that applies"
