"""The change one declared connector needs: a create (POST as DRAFT, then its lifecycle
step), or the diff against the connector in CXone with its action, steps, credentials check
and each field's origin (pending, drift or conflict). reconciler.plan.build matches them up.
"""

from __future__ import annotations

import dataclasses

from reconciler.config.policies import FULL, Policy
from reconciler.model import (
    ALLOWED_TRANSITIONS,
    DESIRED_LIFECYCLE_STATES,
    LABEL_CREDENTIALS_FINGERPRINT,
    LABEL_MANAGED_BY,
    MANAGED_BY_VALUE,
    DesiredConnector,
    RemoteConnector,
)
from reconciler.plan.changes import (
    Action,
    ConnectorChange,
    RemotePin,
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
from reconciler.plan.policy import compared, to_write


def plan_create(d: DesiredConnector, policy: Policy = FULL) -> ConnectorChange:
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


def plan_existing(
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
