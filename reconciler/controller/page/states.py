"""A connector's state in words a contact-center admin understands, from the values a cycle
report (or /status, or a one-shot plan) holds: the planned action, why the fields differ
(origin), what the controller decided and how applying went (outcome).

One vocabulary for the web page and `cxrecon status`; values this module does not know yet
(a decision added later) still get a readable state rather than an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Tone(StrEnum):
    """How much a state asks of the reader, from nothing to do to act now."""

    OK = "ok"
    INFO = "info"  # something will happen by itself (a change waits for a window, …)
    WARN = "warn"  # someone should look (drift, a connector removed from git, …)
    BAD = "bad"  # it failed or cannot be applied

    @property
    def attention(self) -> bool:
        return self in (Tone.WARN, Tone.BAD)


@dataclass(frozen=True, slots=True)
class State:
    """`key` is stable (CSS classes, tests, filters); `label` and `explain` are for people."""

    key: str
    label: str
    tone: Tone
    explain: str


IN_SYNC: Final = State("in-sync", "In sync", Tone.OK, "CXone matches git.")
APPLIED: Final = State(
    "applied", "Updated", Tone.OK, "The controller just brought CXone in line with git."
)
FAILED: Final = State(
    "failed",
    "Failed",
    Tone.BAD,
    "The last attempt to apply git's version failed; the controller retries with a backoff.",
)
RETRYING: Final = State(
    "backoff",
    "Retrying later",
    Tone.BAD,
    "It failed recently; the controller waits before trying again.",
)
ERROR: Final = State(
    "error",
    "Cannot be applied",
    Tone.BAD,
    "Its configuration cannot be applied as it is; the reason says what to change in git.",
)
DRIFT: Final = State(
    "drift",
    "Changed in CXone",
    Tone.WARN,
    "Someone changed it in CXone since cxrecon last applied it (drift). Put the change in "
    "git to keep it, or let the controller revert it (--self-heal).",
)
CONFLICT: Final = State(
    "conflict",
    "Changed in git and in CXone",
    Tone.WARN,
    "It was changed in CXone and in git since the last apply (a conflict); decide which "
    "version wins.",
)
ORPHAN: Final = State(
    "orphan",
    "Removed from git",
    Tone.WARN,
    "Its file is no longer in git but the connector is still in CXone; cxrecon never "
    "deletes it (the controller deactivates it with --prune).",
)
DELETED: Final = State(
    "deleted",
    "Deleted in CXone",
    Tone.WARN,
    "cxrecon applied it before, but it is no longer in CXone; it will be created again from git.",
)
UNMANAGED: Final = State(
    "unmanaged",
    "Not taken over yet",
    Tone.INFO,
    "It exists in CXone and is declared in git, but cxrecon has not applied it before; "
    "`cxrecon apply` (or the controller with --self-heal) takes it over.",
)
NEW: Final = State("new", "New", Tone.INFO, "Declared in git and not yet created in CXone.")
PENDING: Final = State(
    "pending",
    "Waiting to apply",
    Tone.INFO,
    "Changed in git; the controller applies it in its next cycle.",
)
HELD_BY_POLICY: Final = State(
    "policy",
    "Held by a policy",
    Tone.BAD,
    "Its change breaks an `error` policy of cxrecon.yaml (`policies:`), so it is never "
    "written; the reason names the policy. Fix the connector in git, or the policy.",
)
OBSERVED: Final = State(
    "observed",
    "Observed only",
    Tone.INFO,
    "cxrecon only watches it (management: observe) and never writes it; it is not in CXone.",
)
OBSERVED_DIFFERS: Final = State(
    "observed",
    "Differs (observed only)",
    Tone.WARN,
    "cxrecon only watches it (management: observe): CXone differs from git and cxrecon will "
    "not change it; bring git or CXone in line by hand.",
)

#: Why a planned change was held back this cycle (the controller's Decision values).
_HELD: Final = {
    "window": State(
        "pending",
        "Waiting for a sync window",
        Tone.INFO,
        "A sync window does not allow changes now; it is applied when one does.",
    ),
    "unsafe": State(
        "pending",
        "Waiting for approval",
        Tone.WARN,
        "The plan is over the safety gate; someone has to confirm it with `cxrecon apply`.",
    ),
    "dry-run": State(
        "pending",
        "Not applied (dry run)",
        Tone.INFO,
        "The controller runs with --dry-run: it plans and reports, never writes.",
    ),
    "stopping": State(
        "pending",
        "Waiting to apply",
        Tone.INFO,
        "Not started: the controller was shutting down.",
    ),
}

LIFECYCLES: Final = {
    "ACTIVE": "Active",
    "INACTIVE": "Switched off",
    "DRAFT": "Draft (not running)",
    "ERROR": "Error (set by CXone)",
}


def connector_state(
    *,
    action: str,
    origin: str | None = None,
    decision: str | None = None,
    outcome: str | None = None,
    deleted: bool = False,
) -> State:
    """The state of one connector; `decision` is None for a plan no controller acted on, and
    `deleted` says the plan found a connector cxrecon managed deleted in CXone."""
    if outcome == "failed":
        return FAILED
    if decision == "error" or action == "error":
        return ERROR
    if decision == "policy":
        return HELD_BY_POLICY
    if outcome == "applied":
        return APPLIED
    if decision == "in-sync" or action == "no-op" or outcome == "in_line":
        return IN_SYNC  # "in_line": another writer had already brought it in line
    if action == "observe":
        return OBSERVED_DIFFERS if origin is not None else OBSERVED
    if decision == "orphan" or action == "orphan":
        return ORPHAN
    if decision == "backoff":
        return RETRYING
    if action == "create" and deleted:
        return DELETED  # a re-create is also drift (CXone lost it): say which drift
    if origin == "drift":
        return DRIFT
    if origin == "conflict":
        return CONFLICT
    if action == "create":
        return DELETED if deleted else NEW
    if origin == "unknown" or action == "adopt":
        return UNMANAGED
    if decision is None or decision in ("apply", "report"):
        return PENDING
    held = _HELD.get(decision)
    if held is not None:
        return held
    words = decision.replace("-", " ").replace("_", " ").strip().capitalize() or "Unknown"
    return State(decision, words, Tone.INFO, f"The controller's decision: {decision}.")


def lifecycle_words(lifecycle: str | None) -> str:
    """`ACTIVE` → `Active`; None (not in CXone, or not known) → an em dash."""
    if not lifecycle:
        return "—"
    return LIFECYCLES.get(lifecycle, lifecycle.capitalize())
