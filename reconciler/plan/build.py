"""Builds a `Plan` from desired and remote connectors: match by name, diff, choose actions.

Pure and synchronous (no I/O but resolving secret references for fingerprints);
`reconciler.facade.make_plan` wraps it with loading and fetching.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from reconciler.config.policies import FULL, Policies, Policy
from reconciler.model import (
    ALLOWED_TRANSITIONS,
    DESIRED_LIFECYCLE_STATES,
    LABEL_CREDENTIALS_FINGERPRINT,
    LABEL_MANAGED_BY,
    MANAGED_BY_VALUE,
    DesiredConnector,
    RemoteConnector,
)
from reconciler.plan.applied import AppliedHistory
from reconciler.plan.changes import (
    Action,
    ConnectorChange,
    Plan,
    RemotePin,
    SafetyLimitsLike,
    Step,
    StepKind,
    error_change,
    steps_for,
)
from reconciler.plan.credentials import CredentialCheck, CredentialChecker, CredentialStatus
from reconciler.plan.diff import FieldChange, Origin, diff_essences
from reconciler.plan.essence import (
    NOT_PATCHED,
    Essence,
    applied_digest_of,
    changed_sections,
    essence_of,
    section_digests,
)
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
from reconciler.plan.policy import compared, to_write
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
        change, count = _plan_existing(d, old, inputs.checker, policy)
        change = renamed(change, old.name)
        owner = foreign_owner(old, inputs.project)
        if owner is not None and change.action is not Action.ERROR:
            change = dataclasses.replace(change, previous_owner=owner)
        return _Planned(managed_as(change, policy), count, takes=old.name)
    if policy.management == "observe":
        return _Planned(observed_missing(d))
    create = _plan_create(d, policy)
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
    change, count = _plan_existing(d, r, inputs.checker, policy)
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


def _plan_create(d: DesiredConnector, policy: Policy = FULL) -> ConnectorChange:
    """POST as DRAFT, then the lifecycle step. A create writes git's values in full (CXone
    has none yet); the applied digest leaves ignored fields out, as every later plan does,
    or the first plan after the create would read them as changed in git."""
    essence = essence_of(d.spec)
    target = essence.lifecycle
    if target not in DESIRED_LIFECYCLE_STATES:
        return error_change(d.name, _bad_state(d, target))
    steps = [Step(StepKind.CREATE)]
    transition = None
    if target != "DRAFT":
        steps.append(Step(StepKind.TRANSITION, target=target))
        transition = ("DRAFT", target)
    return ConnectorChange(
        name=d.name,
        action=Action.CREATE,
        desired=d,
        steps=tuple(steps),
        transition=transition,
        origin=Origin.PENDING,
        compared=compared(essence, essence, policy)[1] if policy.ignores else None,
    )


def _bad_state(d: DesiredConnector, target: str) -> str:
    return (
        f"{d.location_of('lifecycleStatus')}: lifecycleStatus {target} cannot be requested; "
        f"use one of {', '.join(DESIRED_LIFECYCLE_STATES)}"
    )


def _impossible(d: DesiredConnector, want: Essence, have: Essence) -> list[str]:
    """Requests the API refuses, each with what to do instead."""
    problems: list[str] = []
    if want.doc["connectorType"] != have.doc["connectorType"]:
        problems.append(
            f"{d.location_of('connectorType')}: connectorType cannot change "
            f"({have.doc['connectorType']} → {want.doc['connectorType']}); create a new "
            "connector with another name and deactivate this one (remove it from git and "
            "plan with --prune)"
        )
    src, dst = have.lifecycle, want.lifecycle
    if dst not in DESIRED_LIFECYCLE_STATES:
        problems.append(_bad_state(d, dst))
    elif src != dst and dst not in ALLOWED_TRANSITIONS.get(src, frozenset()):
        hint = (
            "a connector never returns to DRAFT; set INACTIVE to stop it, or create a new "
            "connector with another name"
            if dst == "DRAFT"
            else f"the API does not allow {src} → {dst}"
        )
        problems.append(f"{d.location_of('lifecycleStatus')}: {src} → {dst}: {hint}")
    return problems


def _plan_existing(
    d: DesiredConnector, r: RemoteConnector, checker: CredentialChecker, policy: Policy = FULL
) -> tuple[ConnectorChange, int]:
    """The change, and how many differing fields the ignore rules left out."""
    want = essence_of(d.spec)
    have = essence_of(r.spec)
    pin = RemotePin(id=r.id, etag=r.etag, spec=r.spec)
    owner = have.owned_labels.get(LABEL_MANAGED_BY)
    effective: Essence | None = None
    compared_want: Essence | None = None
    if policy.ignores:
        full = len(diff_essences(have, want)) if have.doc != want.doc else 0
        effective = to_write(have, want, policy)
        have, compared_want = compared(have, want, policy)
        want = compared_want
    # Usually nothing changed: one comparison then stands for the diff and the sections.
    same = have.doc == want.doc
    fields = () if same else diff_essences(have, want)
    ignored = max(0, full - len(fields)) if policy.ignores else 0
    if owner is not None and owner != MANAGED_BY_VALUE:
        return error_change(
            d.name,
            f"connector {d.name!r} (id {r.id}) is labelled managed-by={owner}; remove that "
            "label in CXone to let cxrecon adopt it, or remove it from git",
            desired=d,
            remote=pin,
            fields=fields,
        ), ignored
    problems = _impossible(d, want, have)
    if problems:
        return error_change(d.name, *problems, desired=d, remote=pin, fields=fields), ignored

    adopt = owner is None
    auth = d.spec.authentication
    credentials = checker.check(
        auth.type, auth.credentials, have.owned_labels.get(LABEL_CREDENTIALS_FINGERPRINT)
    )
    changed = () if same else changed_sections(have, want)
    sections = tuple(s for s in changed if s not in NOT_PATCHED)
    if credentials.will_write and "authentication" not in sections:
        sections = (*sections, "authentication")
    transition = None if have.lifecycle == want.lifecycle else (have.lifecycle, want.lifecycle)

    if not adopt:
        fields = _with_origins(fields, have, want, credentials)
    steps = steps_for(sections, transition, adopt)
    return ConnectorChange(
        name=d.name,
        action=_action(sections, transition, adopt),
        desired=d,
        remote=pin,
        fields=fields,
        steps=steps,
        credentials=credentials,
        transition=transition,
        origin=None if adopt else _overall(fields, credentials),
        effective=effective,
        compared=compared_want,
    ), ignored


def _action(sections: tuple[str, ...], transition: tuple[str, str] | None, adopt: bool) -> Action:
    """What the change to an existing connector is: adopt, update, (de)activate or nothing."""
    if adopt:
        return Action.ADOPT
    if sections:
        return Action.UPDATE
    if transition is not None:
        return Action.ACTIVATE if transition[1] == "ACTIVE" else Action.DEACTIVATE
    return Action.NOOP


def _with_origins(
    fields: tuple[FieldChange, ...], have: Essence, want: Essence, creds: CredentialCheck
) -> tuple[FieldChange, ...]:
    """Tag each field pending / drift / conflict from the applied-digest label."""
    if not fields:
        return fields
    applied = applied_digest_of(have)
    if applied is None:
        return tuple(dataclasses.replace(f, origin=Origin.UNKNOWN) for f in fields)
    git_now, cx_now = section_digests(want), section_digests(have)
    out = []
    for f in fields:
        last = applied.sections[f.section]
        in_git, in_cx = last != git_now[f.section], last != cx_now[f.section]
        if in_git and in_cx:
            origin = Origin.CONFLICT
        elif in_git:
            origin = Origin.PENDING
        elif in_cx:
            origin = Origin.DRIFT
        else:
            origin = Origin.UNKNOWN
        out.append(dataclasses.replace(f, origin=origin))
    return tuple(out)


def _overall(fields: tuple[FieldChange, ...], creds: CredentialCheck) -> Origin | None:
    origins = {f.origin for f in fields if f.origin is not None}
    if creds.status is CredentialStatus.ROTATED:
        origins.add(Origin.PENDING)  # only git can rotate a recorded fingerprint
    known = origins - {Origin.UNKNOWN}
    if not known:
        return Origin.UNKNOWN if origins else None
    if len(known) == 1:
        return known.pop()
    return Origin.CONFLICT
