"""Builds a `Plan` from desired and remote connectors: match them by name (ownership, renames,
management), each one's change from reconciler.plan.per_connector, the safety verdict.

Pure and synchronous (no I/O but resolving secret references for fingerprints);
`reconciler.facade.make_plan` wraps it with loading and fetching.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from reconciler.config.policies import Policies, Policy
from reconciler.model import (
    LABEL_CREDENTIALS_FINGERPRINT,
    DesiredConnector,
    RemoteConnector,
)
from reconciler.plan.applied import AppliedHistory
from reconciler.plan.changes import (
    Action,
    ConnectorChange,
    Plan,
    SafetyLimitsLike,
    error_change,
)
from reconciler.plan.credentials import CredentialChecker
from reconciler.plan.diff import Origin
from reconciler.plan.ownership import (
    foreign_owner,
    inherited,
    managed,
    managed_as,
    management_of,
    observed_missing,
    orphan_change,
    ours,
    owned_elsewhere,
    previous_connector,
    renamed,
    taken_over,
)
from reconciler.plan.per_connector import plan_create, plan_existing
from reconciler.plan.safety import safety_verdict


@dataclass(frozen=True)
class _Inputs:
    """What planning one declared connector needs besides the connector itself."""

    checker: CredentialChecker
    rules: Policies
    present: Mapping[str, list[RemoteConnector]]
    declared: Mapping[str, list[DesiredConnector]]
    project: str | None
    take_ownership: bool
    history: AppliedHistory
    previous_projects: frozenset[str]
    remote_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Planned:
    """One declared connector's change, the differing fields rules ignored, and the remote
    name a rename takes over (not an orphan then)."""

    change: ConnectorChange
    ignored_fields: int = 0
    takes: str | None = None


def build_plan(
    desired: Sequence[DesiredConnector],
    remote: Sequence[RemoteConnector],
    *,
    limits: SafetyLimitsLike,
    checker: CredentialChecker,
    desired_digest: str,
    prune: bool = False,
    environment: str | None = None,
    complete: bool = True,
    project: str | None = None,
    take_ownership: bool = False,
    policies: Policies | None = None,
    history: AppliedHistory | None = None,
    previous_projects: Iterable[str] = (),
) -> Plan:
    """Plan every declared connector and every one this project manages; ignore the rest.

    A problem with one name (duplicates, an impossible request) becomes an ERROR change
    for that name only; everything else is still planned. With `complete=False` the desired
    state is a subset of the repository (one file), so a managed connector missing from it
    is not an orphan: it is left out like an unmanaged one.

    `project` is this project's id: a connector labelled for another project is never an
    orphan here, and declaring one is an error unless `take_ownership`. (None: every
    managed connector is this project's, as before projects existed.) A connector labelled
    with one of `previous_projects` (`previousProjects`) is this project's: taken over when
    declared, an orphan when not. `policies` are the
    project's ignore rules and management policies for this environment. `history` names
    the connectors cxrecon is known to have applied here: one of them missing from CXone
    is a create marked deleted in CXone.
    """
    declared: dict[str, list[DesiredConnector]] = defaultdict(list)
    for d in desired:
        declared[d.name].append(d)
    present: dict[str, list[RemoteConnector]] = defaultdict(list)
    for r in remote:
        present[r.name].append(r)
    # Essences are built per pair and dropped again: a 10,000-connector tenant never holds
    # them all at once.
    checker.prefetch(_fingerprint_jobs(declared, present))
    inputs = _Inputs(
        checker=checker,
        rules=policies if policies is not None else Policies(),
        present=present,
        declared=declared,
        project=project,
        take_ownership=take_ownership,
        history=history if history is not None else AppliedHistory(),
        remote_ids=frozenset(r.id for r in remote) if history else frozenset(),
        previous_projects=frozenset(previous_projects),
    )
    planned = [_plan_declared(name, ds, inputs) for name, ds in declared.items()]
    taken = {p.takes for p in planned if p.takes is not None}
    changes = [p.change for p in planned]
    undeclared, ignored = _plan_undeclared(inputs, taken, complete=complete, prune=prune)
    changes.extend(undeclared)
    changes.sort(key=lambda c: (*c.sort_key, c.remote.id if c.remote else ""))
    previous = inputs.previous_projects
    owned = sum(1 for r in remote if managed(r) and ours(r, project, previous))
    return Plan(
        changes=tuple(changes),
        safety=safety_verdict(changes, owned, limits),
        desired_digest=desired_digest,
        environment=environment,
        prune=prune,
        project=project,
        ignored=ignored,
        ignored_fields=sum(p.ignored_fields for p in planned),
    )


def _plan_declared(name: str, ds: Sequence[DesiredConnector], inputs: _Inputs) -> _Planned:
    """One declared name: an error for duplicates, else a rename, create or existing one."""
    rs = inputs.present.get(name, [])
    if len(ds) > 1:
        where = ", ".join(str(d.source) for d in ds)
        return _Planned(error_change(name, f"declared {len(ds)} times in git ({where}); keep one"))
    if len(rs) > 1:
        ids = ", ".join(r.id for r in rs)
        return _Planned(
            error_change(
                name,
                f"{len(rs)} connectors named {name!r} exist in CXone (ids {ids}); rename "
                "or deactivate all but one in CXone, then plan again",
            )
        )
    d = ds[0]
    policy = inputs.rules.for_connector(name, management_of(d))
    if rs:
        return _plan_present(d, rs[0], policy, inputs)
    old = previous_connector(
        d, inputs.present, inputs.declared, inputs.project, inputs.previous_projects
    )
    if old is not None:
        change, count = plan_existing(d, old, inputs.checker, policy)
        change = renamed(change, old.name)
        owner = foreign_owner(old, inputs.project)
        if owner is not None and change.action is not Action.ERROR:
            change = dataclasses.replace(change, previous_owner=owner)
        return _Planned(managed_as(change, policy), count, takes=old.name)
    if policy.management == "observe":
        return _Planned(observed_missing(d))
    create = plan_create(d, policy)
    applied = inputs.history.deleted(name, inputs.remote_ids)
    if applied is None or create.action is not Action.CREATE:
        return _Planned(create)
    # Known to cxrecon, gone from CXone: a re-create, and a change made in CXone (drift), so
    # the controller re-creates it only with --self-heal.
    return _Planned(dataclasses.replace(create, deleted=applied, origin=Origin.DRIFT))


def _plan_present(
    d: DesiredConnector, r: RemoteConnector, policy: Policy, inputs: _Inputs
) -> _Planned:
    owner = foreign_owner(r, inputs.project)
    taking = inputs.take_ownership or inherited(owner, inputs.previous_projects)
    if owner is not None and not taking:
        return _Planned(owned_elsewhere(d, r, owner))
    change, count = plan_existing(d, r, inputs.checker, policy)
    if owner is not None and change.action is not Action.ERROR:
        change = taken_over(change, owner)
    return _Planned(managed_as(change, policy), count)


def _plan_undeclared(
    inputs: _Inputs, taken: set[str], *, complete: bool, prune: bool
) -> tuple[list[ConnectorChange], int]:
    """Orphans (managed by this project, no longer in git), and how many others were left
    alone. With `complete=False` (one file planned) nothing is an orphan."""
    changes: list[ConnectorChange] = []
    ignored = 0
    for name, rs in inputs.present.items():
        if name in inputs.declared or name in taken:
            continue
        for r in rs:
            if complete and managed(r) and ours(r, inputs.project, inputs.previous_projects):
                changes.append(orphan_change(r, prune))
            else:
                ignored += 1
    return changes, ignored


def _fingerprint_jobs(
    declared: Mapping[str, list[DesiredConnector]],
    present: Mapping[str, list[RemoteConnector]],
) -> Iterable[tuple[str, Mapping[str, str], str | None]]:
    for name, ds in declared.items():
        rs = present.get(name, [])
        if len(ds) == 1 and len(rs) == 1:
            auth = ds[0].spec.authentication
            label = rs[0].spec.labels.get(LABEL_CREDENTIALS_FINGERPRINT)
            yield auth.type, auth.credentials, label
