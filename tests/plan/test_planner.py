from __future__ import annotations

import dataclasses

from reconciler.config.project import SafetyLimits
from reconciler.model import (
    LABEL_MANAGED_BY,
    Authentication,
    FieldMapping,
    SyncSettings,
)
from reconciler.plan.changes import Action, ConnectorChange, Plan, StepKind
from reconciler.plan.credentials import CredentialReason, CredentialStatus
from reconciler.plan.diff import Origin
from reconciler.plan.essence import create_body, patch_body

from .helpers import applied, edit_remote, make_plan, spec, unmanaged


def only(plan: Plan, name: str = "sf-contacts") -> ConnectorChange:
    found = [c for c in plan.changes if c.name == name]
    assert len(found) == 1, plan.changes
    return found[0]


def test_reordered_mappings_are_not_a_change() -> None:
    s = spec()
    remote = applied(s)
    reordered = dataclasses.replace(s, mappings=tuple(reversed(s.mappings)))
    plan = make_plan([reordered], [remote])
    assert only(plan).action is Action.NOOP
    assert not plan.has_changes
    assert plan.exit_code(detailed=True) == 0


def test_server_default_omitted_in_git_is_not_a_change() -> None:
    remote = applied(spec(sync_settings=SyncSettings()))
    plan = make_plan([spec(sync_settings=None)], [remote])
    assert only(plan).action is Action.NOOP


def test_field_change_is_an_update_with_a_readable_path() -> None:
    remote = applied(spec())
    changed = spec(
        mappings=(
            FieldMapping("contact.email", "Email", "INBOUND", "email_normalize"),
            FieldMapping("contact.first_name", "FirstName", "INBOUND"),
            FieldMapping("contact.phone", "Phone", "INBOUND", "e164"),
        )
    )
    change = only(make_plan([changed], [remote]))
    assert change.action is Action.UPDATE
    [field] = change.fields
    assert field.path == "mappings[contact.email].direction"
    assert (field.before, field.after) == ("BIDIRECTIONAL", "INBOUND")
    assert field.origin is Origin.PENDING
    assert [s.kind for s in change.steps] == [StepKind.PATCH]
    assert change.steps[0].sections == ("mappings",)
    assert change.remote is not None
    assert change.remote.etag == '"v1"'


def test_patch_body_is_built_from_the_same_essence_the_diff_used() -> None:
    remote = applied(spec())
    change = only(make_plan([spec(labels={"team": "billing"}, description=None)], [remote]))
    assert change.remote is not None
    assert change.desired_essence is not None
    body = patch_body(
        change.remote.essence,
        change.desired_essence,
        sections=change.steps[0].sections,
        credentials=None,
        owned_labels={},
    )
    assert body["description"] is None
    assert body["labels"]["team"] == "billing"
    assert set(body) == {"description", "labels"}


def test_rotated_secret_is_reported_as_rotated_without_the_value() -> None:
    remote = applied(spec())
    plan = make_plan([spec()], [remote], environ={"SF_SECRET": "a-new-secret"})
    change = only(plan)
    assert change.credentials is not None
    assert change.credentials.status is CredentialStatus.ROTATED
    assert change.action is Action.UPDATE
    assert change.steps[0].sections == ("authentication",)
    assert change.origin is Origin.PENDING


def test_unchanged_secret_is_unchanged() -> None:
    change = only(make_plan([spec()], [applied(spec())]))
    assert change.credentials is not None
    assert change.credentials.status is CredentialStatus.UNCHANGED


def test_without_secrets_credentials_are_unknown_and_not_a_change() -> None:
    change = only(make_plan([spec()], [applied(spec())], environ=None))
    assert change.credentials is not None
    assert change.credentials.status is CredentialStatus.UNKNOWN
    assert change.credentials.reason is CredentialReason.SECRETS_UNAVAILABLE
    assert change.action is Action.NOOP


def test_changed_literal_client_id_is_rotated_even_without_secrets() -> None:
    remote = applied(spec())
    new_auth = Authentication(
        type="OAUTH2", credentials={"clientId": "app-2", "clientSecret": "${env:SF_SECRET}"}
    )
    change = only(make_plan([spec(authentication=new_auth)], [remote], environ=None))
    assert change.credentials is not None
    assert change.credentials.status is CredentialStatus.ROTATED


def test_out_of_band_edit_is_drift() -> None:
    remote = edit_remote(applied(spec()), endpoint_url="https://evil.example/api")
    change = only(make_plan([spec()], [remote]))
    assert change.action is Action.UPDATE
    [field] = change.fields
    assert field.path == "endpointUrl"
    assert field.origin is Origin.DRIFT
    assert change.origin is Origin.DRIFT


def test_git_and_cxone_changes_are_told_apart_per_field() -> None:
    remote = edit_remote(applied(spec()), endpoint_url="https://evil.example/api")
    change = only(make_plan([spec(version="1.1.0")], [remote]))
    origins = {f.path: f.origin for f in change.fields}
    assert origins == {"endpointUrl": Origin.DRIFT, "version": Origin.PENDING}
    assert change.origin is Origin.CONFLICT


def test_same_field_changed_on_both_sides_is_a_conflict() -> None:
    remote = edit_remote(applied(spec()), version="9.9.9")
    change = only(make_plan([spec(version="1.1.0")], [remote]))
    assert change.fields[0].origin is Origin.CONFLICT


def test_going_back_to_draft_is_a_plan_time_error_with_advice() -> None:
    plan = make_plan([spec(lifecycle_status="DRAFT"), spec("other")], [applied(spec())])
    change = only(plan)
    assert change.action is Action.ERROR
    assert "never returns to DRAFT" in change.problems[0]
    assert "INACTIVE" in change.problems[0]
    assert only(plan, "other").action is Action.CREATE  # the rest is still planned
    assert plan.exit_code(detailed=True) == 1
    assert plan.exit_code(detailed=False) == 1


def test_changed_connector_type_is_an_error_saying_what_to_do() -> None:
    change = only(make_plan([spec(connector_type="CUSTOM")], [applied(spec())]))
    assert change.action is Action.ERROR
    assert "create a new connector with another name" in change.problems[0]
    assert change.steps == ()


def test_create_posts_a_draft_then_transitions() -> None:
    change = only(make_plan([spec()], []))
    assert change.action is Action.CREATE
    assert [(s.kind, s.target) for s in change.steps] == [
        (StepKind.CREATE, None),
        (StepKind.TRANSITION, "ACTIVE"),
    ]
    assert change.desired_essence is not None
    body = create_body(change.desired_essence, {"clientId": "app-1", "clientSecret": "x"}, {})
    assert body["lifecycleStatus"] == "DRAFT"


def test_activation_alone_is_its_own_action() -> None:
    remote = applied(spec(lifecycle_status="INACTIVE"))
    change = only(make_plan([spec()], [remote]))
    assert change.action is Action.ACTIVATE
    assert change.transition == ("INACTIVE", "ACTIVE")
    [step] = change.steps
    assert step.kind is StepKind.TRANSITION
    assert step.target == "ACTIVE"


def test_deactivation_with_field_changes_stops_the_connector_first() -> None:
    remote = applied(spec())
    change = only(make_plan([spec(lifecycle_status="INACTIVE", version="2.0.0")], [remote]))
    assert change.action is Action.UPDATE
    assert [s.kind for s in change.steps] == [StepKind.TRANSITION, StepKind.PATCH]


def test_unlabelled_connector_declared_in_git_is_adopted() -> None:
    remote = unmanaged(spec(version="0.9.0"))
    change = only(make_plan([spec()], [remote]))
    assert change.action is Action.ADOPT
    assert [f.path for f in change.fields] == ["version"]
    assert change.credentials is not None
    assert change.credentials.reason is CredentialReason.NO_FINGERPRINT
    assert "authentication" in change.steps[0].sections  # apply records the fingerprint


def test_connector_managed_by_another_tool_is_not_adopted() -> None:
    remote = unmanaged(spec(labels={LABEL_MANAGED_BY: "terraform"}))
    change = only(make_plan([spec()], [remote]))
    assert change.action is Action.ERROR
    assert "managed-by=terraform" in change.problems[0]


def test_managed_connector_missing_from_git_is_an_orphan_and_never_touched() -> None:
    plan = make_plan([], [applied(spec())])
    change = only(plan)
    assert change.action is Action.ORPHAN
    assert change.steps == ()
    assert not plan.has_changes


def test_prune_deactivates_orphans_but_never_deletes() -> None:
    plan = make_plan([], [applied(spec())], prune=True)
    change = only(plan)
    assert change.action is Action.DEACTIVATE
    assert change.orphaned
    assert [(s.kind, s.target) for s in change.steps] == [(StepKind.TRANSITION, "INACTIVE")]


def test_connector_neither_declared_nor_managed_is_ignored() -> None:
    plan = make_plan([], [unmanaged(spec())], prune=True)
    assert plan.changes == ()
    assert plan.ignored == 1


def test_two_remote_connectors_with_one_name_is_an_error_for_that_name_only() -> None:
    twins = [applied(spec(), cid="a"), applied(spec(), cid="b")]
    plan = make_plan([spec(), spec("fine")], twins)
    assert only(plan).action is Action.ERROR
    assert "ids a, b" in only(plan).problems[0]
    assert only(plan, "fine").action is Action.CREATE


def test_changes_are_sorted_by_action_then_name() -> None:
    plan = make_plan(
        [spec("z-new"), spec("a-new"), spec("m-upd", version="2.0.0")],
        [applied(spec("m-upd"), cid="m"), applied(spec("orphan"), cid="o")],
    )
    assert [(c.action.value, c.name) for c in plan.changes] == [
        ("create", "a-new"),
        ("create", "z-new"),
        ("update", "m-upd"),
        ("orphan", "orphan"),
    ]


def test_safety_gate_trips_on_too_many_updates() -> None:
    names = [f"c{i:02d}" for i in range(10)]
    remote = [applied(spec(n), cid=n) for n in names]
    want = [spec(n, version="2.0.0") if i < 4 else spec(n) for i, n in enumerate(names)]
    plan = make_plan(want, remote)
    assert plan.safety.over
    assert plan.safety.modified == 4
    assert "4 of 10" in plan.safety.reasons[0]
    assert plan.exit_code(detailed=True) == 3
    within = make_plan(want, remote, limits=SafetyLimits(max_change_fraction=0.5))
    assert not within.safety.over
    assert within.exit_code(detailed=True) == 2


def test_safety_gate_ignores_small_tenants() -> None:
    remote = [applied(spec(f"c{i}"), cid=str(i)) for i in range(3)]
    plan = make_plan([spec(f"c{i}", version="2.0.0") for i in range(3)], remote)
    assert not plan.safety.over


def test_safety_gate_trips_on_any_active_deactivation() -> None:
    plan = make_plan([], [applied(spec())], prune=True)
    assert plan.safety.over
    assert "sf-contacts" in plan.safety.reasons[0]
    relaxed = make_plan(
        [], [applied(spec())], prune=True, limits=SafetyLimits(gate_active_deactivation=False)
    )
    assert not relaxed.safety.over
