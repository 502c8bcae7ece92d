"""The events cxrecon tells (drift, apply-failed, applied, deleted-in-cxone, policy-violation,
controller-not-ready, controller-recovered) as values, built from the reports that found them.

An `Event` holds cxrecon's own sentence, the connectors it is about (`Item`s: user-controlled
text, escaped only when rendered for a medium) and where it happened (`Where`: environment,
commit, links). Values of secret fields are masked before they reach an item.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Final, Protocol

from reconciler.hashing import canonical_json, sha256_hex
from reconciler.plan.diff import FieldChange, JsonValue, format_value, safe_values

if TYPE_CHECKING:
    from reconciler.apply.results import ConnectorResult
    from reconciler.apply.run import ApplyReport
    from reconciler.gitops.drift import DriftReport
    from reconciler.plan.changes import Plan

#: How much of a value a message shows: enough to recognise it, short enough for a chat.
VALUE_CHARS: Final = 40
#: Field lines shown per connector before "… and N more".
FIELDS_SHOWN: Final = 5
_COMMIT: Final = re.compile(r"^[0-9a-f]{7,64}$")
#: A link cxrecon adds (a workflow run, the status page): http(s), nothing that could end
#: the link's markup or start another.
_LINK: Final = re.compile(r"^https?://[^\s<>()\[\]\"'`\\|]+$")


class EventKind(StrEnum):
    """The events of `notifications[].events` (config.notifications.EVENTS)."""

    DRIFT = "drift"
    APPLY_FAILED = "apply-failed"
    APPLIED = "applied"
    DELETED = "deleted-in-cxone"
    POLICY_VIOLATION = "policy-violation"
    NOT_READY = "controller-not-ready"
    RECOVERED = "controller-recovered"

    @property
    def heading(self) -> str:
        return _TITLES[self]

    @property
    def severity(self) -> str:
        """Apprise's notify type: info, success, warning or failure."""
        return _SEVERITY[self]


_TITLES: Final = {
    EventKind.DRIFT: "drift",
    EventKind.APPLY_FAILED: "apply failed",
    EventKind.APPLIED: "applied",
    EventKind.DELETED: "deleted in CXone",
    EventKind.POLICY_VIOLATION: "policy violation",
    EventKind.NOT_READY: "controller not ready",
    EventKind.RECOVERED: "controller recovered",
}
_SEVERITY: Final = {
    EventKind.DRIFT: "warning",
    EventKind.APPLY_FAILED: "failure",
    EventKind.APPLIED: "success",
    EventKind.DELETED: "warning",
    EventKind.POLICY_VIOLATION: "warning",
    EventKind.NOT_READY: "failure",
    EventKind.RECOVERED: "success",
}


@dataclass(frozen=True, slots=True)
class Link:
    label: str  # cxrecon's own words
    url: str


@dataclass(frozen=True, slots=True)
class Where:
    """Where an event happened and where to look: every message names these."""

    environment: str | None = None
    commit: str | None = None
    project: str | None = None
    links: tuple[Link, ...] = ()

    @classmethod
    def of(
        cls,
        environ: Mapping[str, str],
        *,
        environment: str | None,
        commit: str | None,
        project: str | None = None,
    ) -> Where:
        """The links from the process environment: the GitHub Actions run (GITHUB_SERVER_URL,
        GITHUB_REPOSITORY, GITHUB_RUN_ID) and the status page (CXRECON_STATUS_URL)."""
        links: list[Link] = []
        repository, run_id = environ.get("GITHUB_REPOSITORY", ""), environ.get("GITHUB_RUN_ID")
        if run_id and re.fullmatch(r"[\w.-]+/[\w.-]+", repository) and run_id.isdigit():
            server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
            links.append(Link("workflow run", f"{server}/{repository}/actions/runs/{run_id}"))
        status = environ.get("CXRECON_STATUS_URL", "").strip()
        if status:
            links.append(Link("status page", status.rstrip("/") + "/"))
        return cls(
            environment=environment,
            commit=commit if commit and _COMMIT.match(commit) else None,
            project=project,
            links=tuple(link for link in links if _LINK.match(link.url)),
        )


@dataclass(frozen=True, slots=True)
class Item:
    """One connector (or policy finding) an event is about. `name` and `details` are
    user-controlled; `fingerprint` tells the controller's memory whether it was told."""

    name: str
    details: tuple[str, ...] = ()
    fingerprint: str = ""
    #: What the controller's memory knows it by when `name` is not enough (a connector
    #: breaking two policies is two findings).
    key: str = ""

    @property
    def ident(self) -> str:
        return self.key or self.name


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    #: cxrecon's own sentence (counts and fixed words; no user-controlled text).
    summary: str
    where: Where
    items: tuple[Item, ...] = ()
    #: A reason from elsewhere (an error message, a readiness verdict): user-controlled.
    reason: str | None = None

    def only(self, items: Sequence[Item]) -> Event:
        """The same event about fewer items (what is left to tell)."""
        return Event(
            self.kind, _summary(self.kind, len(items)), self.where, tuple(items), self.reason
        )


def _summary(kind: EventKind, count: int) -> str:
    if kind is EventKind.DRIFT:
        return f"{count} connector(s) changed in CXone since cxrecon last applied them."
    if kind is EventKind.DELETED:
        return f"{count} connector(s) cxrecon manages were deleted in CXone."
    if kind is EventKind.APPLIED:
        return f"{count} connector(s) written to CXone."
    if kind is EventKind.APPLY_FAILED:
        return f"{count} connector(s) could not be applied."
    if kind is EventKind.POLICY_VIOLATION:
        return f"{count} policy violation(s)."
    return ""


def fingerprint(value: object) -> str:
    """A short stable digest of what was told (values already masked)."""
    # json.dumps' spaced form, any value by its str(): notified.json keeps these.
    return sha256_hex(canonical_json(value, spaced=True, lenient=True), 16)


def field_line(path: str, git: JsonValue, cxone: JsonValue, *, secret: bool) -> str:
    """One changed field for a message: `path: git → CXone`, values shortened."""
    if secret:
        return f"{path}: changed (secret, not shown)"
    return f"{path}: {format_value(git, VALUE_CHARS)} → {format_value(cxone, VALUE_CHARS)}"


def drift_item(name: str, fields: Sequence[tuple[str, JsonValue, JsonValue, bool]]) -> Item:
    """A drifted connector from its fields as (path, git value, CXone value, secret)."""
    lines = [field_line(p, g, c, secret=s) for p, g, c, s in fields[:FIELDS_SHOWN]]
    if len(fields) > FIELDS_SHOWN:
        lines.append(f"… and {len(fields) - FIELDS_SHOWN} more field(s)")
    told = [(p, None, None) if s else (p, g, c) for p, g, c, s in fields]
    return Item(name, tuple(lines), fingerprint(told))


def drift_item_of_changes(name: str, changes: Iterable[FieldChange]) -> Item:
    """A drifted connector from a plan's field changes (before: CXone, after: git)."""
    fields: list[tuple[str, JsonValue, JsonValue, bool]] = []
    for change in changes:
        cxone, git = safe_values(change)
        fields.append((change.path, git, cxone, change.secret))
    return drift_item(name, fields)


def deleted_item(name: str, last_applied: str | None) -> Item:
    detail = (f"last applied {last_applied}",) if last_applied else ()
    return Item(name, detail, fingerprint(["deleted", name]))


def failed_item(name: str, reason: str | None) -> Item:
    text = reason or "failed"
    return Item(name, (text,), fingerprint(["failed", text]))


def applied_item(result: ConnectorResult, paths: Sequence[str]) -> Item:
    what = result.action.value
    if result.lifecycle:
        what += f", now {result.lifecycle}"
    lines = [what]
    if paths:
        shown = ", ".join(paths[:8]) + (f", … and {len(paths) - 8} more" if len(paths) > 8 else "")
        lines.append(f"fields: {shown}")
    return Item(result.name, tuple(lines), fingerprint([result.name, what, list(paths)]))


# --- events of one command run ------------------------------------------------------------


def about(kind: EventKind, items: Sequence[Item], where: Where) -> list[Event]:
    """One event of `kind` about `items`, its sentence counting them; none without items."""
    if not items:
        return []
    return [Event(kind, _summary(kind, len(items)), where, tuple(items))]


def drift_events(report: DriftReport, where: Where) -> list[Event]:
    """`drift` for connectors changed in CXone, `deleted-in-cxone` for those deleted there."""
    drifted = [
        drift_item(c.name, [(f.path, f.git, f.cxone, f.secret) for f in c.fields])
        for c in report.connectors
    ]
    deleted = [deleted_item(d.name, d.last_applied) for d in report.deleted]
    return about(EventKind.DRIFT, drifted, where) + about(EventKind.DELETED, deleted, where)


def apply_events(report: ApplyReport, plan: Plan | None, where: Where) -> list[Event]:
    """`applied` for what was written (with the fields the plan changed), `apply-failed` for
    the connectors that failed."""
    from reconciler.apply.results import Outcome

    paths = {c.name: [f.path for f in c.fields] for c in plan.changes} if plan else {}
    applied = [applied_item(r, paths.get(r.name, ())) for r in report.of(Outcome.APPLIED)]
    failed = [failed_item(r.name, r.reason) for r in report.of(Outcome.FAILED)]
    failed += [
        failed_item(s.target.name, f"data sync {s.status}: {s.error_details or 'see the run'}")
        for s in report.syncs
        if not s.ok
    ]
    # The policies broken by what this run writes or holds; a connector it leaves alone
    # is not news at every merge (the controller tells standing violations, once).
    writes = {c.name for c in plan.changes if c.action.writes} if plan else set()
    broken = [v for v in plan.violations if v.connector in writes] if plan else []
    return (
        about(EventKind.APPLIED, applied, where)
        + about(EventKind.APPLY_FAILED, failed, where)
        + about(EventKind.POLICY_VIOLATION, policy_items(broken), where)
    )


def run_failed_event(error: str, where: Where) -> Event:
    """`apply-failed` for an apply that stopped before any connector (stale plan, API down,
    safety gate)."""
    return Event(
        EventKind.APPLY_FAILED, "The apply stopped before writing anything.", where, reason=error
    )


class PolicyFinding(Protocol):
    """What a policy violation tells (the policies stage's own `Violation` has these)."""

    @property
    def policy(self) -> str: ...
    @property
    def connector(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def severity(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Violation:
    """One policy finding, as the policies stage reports it (`policies:` in cxrecon.yaml)."""

    policy: str
    connector: str
    message: str
    severity: str = "error"


def policy_items(violations: Sequence[PolicyFinding]) -> list[Item]:
    """An item per finding (a connector breaking two policies is two), with the connector's
    file:line:col when the finding has it."""
    items: list[Item] = []
    for v in violations:
        location = getattr(v, "location", None)
        at = f" ({location})" if location else ""
        items.append(
            Item(
                v.connector,
                (f"{v.policy} ({v.severity}): {v.message}{at}",),
                fingerprint([v.policy, v.severity, v.message]),
                key=json.dumps([v.connector, v.policy], ensure_ascii=False),
            )
        )
    return items


def policy_violation_event(violations: Sequence[PolicyFinding], where: Where) -> Event | None:
    """`policy-violation` for the findings of `policies:`; None without any."""
    items = policy_items(violations)
    if not items:
        return None
    return Event(
        EventKind.POLICY_VIOLATION,
        _summary(EventKind.POLICY_VIOLATION, len(items)),
        where,
        tuple(items),
    )


def not_ready_event(reason: str, where: Where) -> Event:
    return Event(EventKind.NOT_READY, "The controller is not ready.", where, reason=reason)


def recovered_event(reason: str, where: Where) -> Event:
    return Event(EventKind.RECOVERED, "The controller is ready again.", where, reason=reason)
