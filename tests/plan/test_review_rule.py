"""The reviewed-write rule (reconciler.plan.review_rule): each field written, in line, held
or left, from CXone's value at the review, the value reviewed, and CXone's and git's now —
the change cut down to the fields written, and a stale saved plan's review by it
(reconciler.plan.reviewed). Through the CLI: tests/apply/test_reviewed_writes.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.model import ConnectorSpec, RemoteConnector
from reconciler.plan import saved as saved_plans
from reconciler.plan.changes import Action
from reconciler.plan.diff import Origin
from reconciler.plan.essence import essence_of
from reconciler.plan.review_rule import (
    ABSENT,
    FieldSides,
    HoldReason,
    Ruling,
    covered,
    decide,
    judge,
    narrowed,
    value_at,
    written,
)
from reconciler.plan.reviewed import Left, Review, review

from .helpers import applied, edit_remote, make_plan, spec, unmanaged


def sides(shown: bool, base: Any, reviewed: Any, cxone: Any, git: Any) -> FieldSides:
    return FieldSides("description", ("description",), shown, base, reviewed, cxone, git)


@pytest.mark.parametrize(
    ("field", "ruling", "why"),
    [
        # Reviewed A → B; CXone still holds A; git still wants B.
        (sides(True, "A", "B", "A", "B"), Ruling.WRITE, None),
        # CXone already holds B (someone made the same change).
        (sides(True, "A", "B", "B", "B"), Ruling.IN_LINE, None),
        # CXone moved to C since the review: both sides changed it.
        (sides(True, "A", "B", "C", "B"), Ruling.HOLD, HoldReason.CHANGED_IN_CXONE),
        # git wants D now, not the B that was reviewed.
        (sides(True, "A", "B", "A", "D"), Ruling.HOLD, HoldReason.DIFFERS),
        # ...even where CXone already holds D: the reviewed value is what may be applied.
        (sides(True, "A", "B", "D", "D"), Ruling.HOLD, HoldReason.DIFFERS),
        # Not reviewed, git still wants A, CXone changed it to C: left (drift).
        (sides(False, "A", "A", "C", "A"), Ruling.LEAVE, None),
        # Not reviewed, git moved to D after the review: a commit nobody reviewed.
        (sides(False, "A", "A", "A", "D"), Ruling.HOLD, HoldReason.NOT_REVIEWED),
        (sides(False, "A", "A", "C", "D"), Ruling.HOLD, HoldReason.NOT_REVIEWED),
        # A field absent on one side is a value like any other.
        (sides(True, ABSENT, "B", ABSENT, "B"), Ruling.WRITE, None),
        (sides(True, "A", ABSENT, "A", ABSENT), Ruling.WRITE, None),
    ],
)
def test_each_field_is_decided_by_the_one_rule(
    field: FieldSides, ruling: Ruling, why: HoldReason | None
) -> None:
    decision = decide(field)

    assert (decision.ruling, decision.why) == (ruling, why)


def test_one_field_held_holds_the_connector_and_every_reason_is_named() -> None:
    judged = judge(
        [
            FieldSides("description", ("description",), True, "A", "B", "C", "B"),
            FieldSides("version", ("version",), False, "1", "1", "1", "2"),
            FieldSides("endpointUrl", ("endpointUrl",), False, "u", "u", "v", "u"),
            FieldSides("syncSettings.batchSize", ("syncSettings", "batchSize"), True, 1, 2, 1, 2),
        ]
    )

    assert judged.held
    assert judged.reasons() == (
        "changed in CXone since the review: description",
        "not reviewed: version",
    )
    assert judged.left == ("endpointUrl",)
    assert [f.path for f in judged.ruled(Ruling.WRITE)] == ["syncSettings.batchSize"]


def test_a_field_inside_or_around_a_reviewed_one_is_covered_by_it() -> None:
    shown = [("mappings", "contact.email")]

    assert covered(("mappings", "contact.email", "direction"), shown)
    assert covered(("mappings",), shown)
    assert not covered(("mappings", "case.subject"), shown)
    assert value_at({"a": {"b": 1}}, ("a", "b")) == 1
    assert value_at({"a": {"b": 1}}, ("a", "c")) is ABSENT


def test_the_cut_down_change_writes_only_the_fields_written_and_keeps_cxones_edit() -> None:
    before = applied(spec())
    reviewed = make_plan([spec(description="reviewed change")], [before]).changes[0]
    now = edit_remote(before, endpoint_url="https://ui-edit.example/api")
    fresh = make_plan([spec(description="reviewed change")], [now]).changes[0]
    assert {f.path for f in fresh.fields} == {"description", "endpointUrl"}
    assert fresh.remote is not None
    assert fresh.desired_essence is not None
    judged = judge(
        FieldSides(
            f.path,
            f.parts,
            f.path == "description",
            value_at(reviewed.remote.essence.doc, f.parts) if reviewed.remote else ABSENT,
            value_at(fresh.desired_essence.doc, f.parts),
            value_at(fresh.remote.essence.doc, f.parts),
            value_at(fresh.desired_essence.doc, f.parts),
        )
        for f in fresh.fields
    )
    assert judged.left == ("endpointUrl",)

    target = written(fresh.remote.essence, fresh.desired_essence, judged.ruled(Ruling.WRITE))
    cut = narrowed(fresh, fresh, fresh.remote, fresh.remote.essence, target)

    assert cut.action is Action.UPDATE
    assert [(f.path, f.after) for f in cut.fields] == [("description", "reviewed change")]
    assert cut.origin is Origin.PENDING  # the whole change was a conflict; what is kept is not
    assert cut.target is not None
    assert cut.target.doc["endpointUrl"] == "https://ui-edit.example/api"
    assert essence_of(now.spec).doc["endpointUrl"] == cut.target.doc["endpointUrl"]


def review_after(
    tmp_path: Path, reviewed: ConnectorSpec, before: RemoteConnector, now: RemoteConnector
) -> Review:
    """A plan of `reviewed` against `before`, saved as a pull request's job saves it, and a
    fresh plan against `now` (the same git) held against it."""
    path = tmp_path / "reviewed.json"
    saved_plans.write(make_plan([reviewed], [before]), path)
    return review(saved_plans.read(path), make_plan([reviewed], [now]))


def test_a_stale_review_cuts_the_update_down_to_the_reviewed_fields(tmp_path: Path) -> None:
    before = applied(spec())
    now = edit_remote(before, endpoint_url="https://ui-edit.example/api")

    verdict = review_after(tmp_path, spec(description="reviewed change"), before, now)

    assert verdict.held == ()
    (change,) = verdict.as_reviewed
    assert [f.path for f in change.fields] == ["description"]
    assert verdict.left == (Left("sf-contacts", ("endpointUrl",)),)


def test_an_adoption_with_a_ui_edit_since_the_review_is_held_not_cut_down(
    tmp_path: Path,
) -> None:
    before = unmanaged(spec())
    now = edit_remote(before, endpoint_url="https://ui-edit.example/api")

    verdict = review_after(tmp_path, spec(description="adopted"), before, now)

    assert verdict.as_reviewed == ()
    (held,) = verdict.held
    assert held.change.action is Action.ADOPT
    assert (
        held.reason
        == "differs from the reviewed plan (changed in CXone since the review: endpointUrl)"
    )
