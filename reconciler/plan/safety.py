"""The plan's safety gate (octoDNS-style): too large a share of the managed connectors
changed, or an ACTIVE connector stopped, puts a plan over it. Informs; apply decides."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from reconciler.plan.changes import Action, ConnectorChange, SafetyLimitsLike, SafetyVerdict

_MODIFYING: Final = frozenset({Action.UPDATE, Action.RENAME, Action.ACTIVATE, Action.DEACTIVATE})
_NAMES_SHOWN: Final = 5


def safety_verdict(
    changes: Sequence[ConnectorChange], managed: int, limits: SafetyLimitsLike
) -> SafetyVerdict:
    modified = [
        c for c in changes if c.action in _MODIFYING and c.remote is not None and c.remote.managed
    ]
    reasons: list[str] = []
    if managed >= limits.min_managed and modified:
        fraction = len(modified) / managed
        if fraction > limits.max_change_fraction:
            reasons.append(
                f"{len(modified)} of {managed} managed connectors would change "
                f"({fraction:.0%} > {limits.max_change_fraction:.0%})"
            )
    if limits.gate_active_deactivation:
        stopping = [c.name for c in changes if c.transition == ("ACTIVE", "INACTIVE")]
        if stopping:
            shown = ", ".join(stopping[:_NAMES_SHOWN])
            more = (
                f" and {len(stopping) - _NAMES_SHOWN} more" if len(stopping) > _NAMES_SHOWN else ""
            )
            reasons.append(f"ACTIVE connectors would be deactivated: {shown}{more}")
    return SafetyVerdict(
        over=bool(reasons),
        reasons=tuple(reasons),
        managed=managed,
        modified=len(modified),
        max_change_fraction=limits.max_change_fraction,
        min_managed=limits.min_managed,
    )
