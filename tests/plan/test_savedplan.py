from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from reconciler.errors import PlanError, SavedPlanError, StalePlanError, StaleSavedPlanError
from reconciler.model import Authentication, RemoteConnector
from reconciler.plan.binding import PlanBinding
from reconciler.plan.changes import Action
from reconciler.plan.saved import read, verify, write

from .helpers import CANARY, applied, checker, desired, edit_remote, make_plan, spec

DIGEST = "d" * 64


@pytest.fixture
def remote() -> list[RemoteConnector]:
    return [
        applied(spec("upd"), cid="u", etag='"u1"'),
        applied(spec("same"), cid="s", etag='"s1"'),
        applied(spec("gone"), cid="g", etag='"g1"'),
    ]


def saved_plan(tmp_path: Path, remote: list) -> Path:  # type: ignore[type-arg]
    plan = make_plan([spec("upd", version="2.0.0"), spec("same"), spec("new")], remote, prune=True)
    path = tmp_path / "plan.json"
    write(plan, path)
    return path


def test_saved_plan_round_trips_and_rebuilds_the_same_changes(
    tmp_path: Path, remote: list[RemoteConnector]
) -> None:
    saved = read(saved_plan(tmp_path, remote))
    assert saved.desired_digest == DIGEST
    assert {(e.name, e.action) for e in saved.entries} == {
        ("new", Action.CREATE),
        ("upd", Action.UPDATE),
        ("gone", Action.DEACTIVATE),
    }
    plan = verify(saved, desired_digest=DIGEST, remote=remote, checker=checker())
    assert [(c.action, c.name) for c in plan.changes] == [
        (Action.CREATE, "new"),
        (Action.UPDATE, "upd"),
        (Action.DEACTIVATE, "gone"),
    ]
    assert plan.safety == saved.safety


def test_saved_plan_pins_etag_and_state_hash_and_holds_only_references(
    tmp_path: Path, remote: list[RemoteConnector]
) -> None:
    text = saved_plan(tmp_path, remote).read_text(encoding="utf-8")
    doc = json.loads(text)
    upd = next(c for c in doc["connectors"] if c["name"] == "upd")
    assert upd["remote"]["etag"] == '"u1"'
    assert upd["remote"]["stateHash"].startswith("sha256:")
    assert upd["desired"]["spec"]["authentication"]["credentials"]["clientSecret"] == (
        "${env:SF_SECRET}"
    )
    assert CANARY not in text
    assert doc["checksum"].startswith("sha256:")


def test_tampered_saved_plan_is_refused(tmp_path: Path, remote: list[RemoteConnector]) -> None:
    path = saved_plan(tmp_path, remote)
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["connectors"][0]["desired"]["spec"]["endpointUrl"] = "https://attacker.example"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(SavedPlanError, match="checksum mismatch"):
        read(path)


def test_not_a_saved_plan_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text('{"formatVersion": 1}', encoding="utf-8")
    with pytest.raises(SavedPlanError, match="cxrecon plan --out"):
        read(path)
    path.write_text("not json", encoding="utf-8")
    with pytest.raises(SavedPlanError, match="not a saved plan"):
        read(path)


def test_remote_change_makes_the_plan_stale_naming_the_connector(
    tmp_path: Path, remote: list[RemoteConnector]
) -> None:
    saved = read(saved_plan(tmp_path, remote))
    now = [edit_remote(remote[0], description="changed by hand"), *remote[1:]]
    with pytest.raises(StaleSavedPlanError) as caught:
        verify(saved, desired_digest=DIGEST, remote=now, checker=checker())
    assert caught.value.connectors == ("upd",)
    assert "upd (changed in CXone" in str(caught.value)


def test_unrelated_remote_changes_do_not_make_the_plan_stale(
    tmp_path: Path, remote: list[RemoteConnector]
) -> None:
    saved = read(saved_plan(tmp_path, remote))
    now = [remote[0], edit_remote(remote[1], description="x"), remote[2]]
    verify(saved, desired_digest=DIGEST, remote=now, checker=checker())


def test_new_etag_with_the_same_state_is_not_stale(
    tmp_path: Path, remote: list[RemoteConnector]
) -> None:
    saved = read(saved_plan(tmp_path, remote))
    now = [dataclasses.replace(remote[0], etag='"u2"'), *remote[1:]]
    verify(saved, desired_digest=DIGEST, remote=now, checker=checker())


def test_deleted_or_newly_created_connectors_make_the_plan_stale(
    tmp_path: Path, remote: list[RemoteConnector]
) -> None:
    saved = read(saved_plan(tmp_path, remote))
    now = [*remote[1:], applied(spec("new", description="made in the UI"), cid="n")]
    with pytest.raises(StaleSavedPlanError) as caught:
        verify(saved, desired_digest=DIGEST, remote=now, checker=checker())
    assert set(caught.value.connectors) == {"upd", "new"}


def test_what_an_earlier_run_of_the_same_plan_wrote_does_not_make_it_stale(
    tmp_path: Path, remote: list[RemoteConnector]
) -> None:
    saved = read(saved_plan(tmp_path, remote))
    # The first run created `new` and updated `upd`, then failed on `gone`.
    done = [applied(spec("upd", version="2.0.0"), cid="u", etag='"u2"'), *remote[1:]]
    now = [*done, applied(spec("new"), cid="n")]
    plan = verify(saved, desired_digest=DIGEST, remote=now, checker=checker())
    assert [(c.action, c.name) for c in plan.changes if c.action.writes] == [
        (Action.DEACTIVATE, "gone")
    ]


def test_content_decides_even_when_the_etag_did_not_move(
    tmp_path: Path, remote: list[RemoteConnector]
) -> None:
    saved = read(saved_plan(tmp_path, remote))
    edited = edit_remote(remote[0], description="edited by hand")
    now = [dataclasses.replace(edited, etag=remote[0].etag), *remote[1:]]
    with pytest.raises(StaleSavedPlanError, match=r"upd \(changed in CXone: description"):
        verify(saved, desired_digest=DIGEST, remote=now, checker=checker())


def test_changed_desired_files_make_the_plan_stale(
    tmp_path: Path, remote: list[RemoteConnector]
) -> None:
    saved = read(saved_plan(tmp_path, remote))
    with pytest.raises(StalePlanError, match="desired files changed"):
        verify(saved, desired_digest="e" * 64, remote=remote, checker=checker())


def test_a_literal_secret_is_never_written_to_a_saved_plan(tmp_path: Path) -> None:
    leaky = spec(
        authentication=Authentication(type="BASIC", credentials={"password": CANARY}),
    )
    plan = make_plan([desired(leaky)], [])
    path = tmp_path / "plan.json"
    with pytest.raises(PlanError, match="password") as caught:
        write(plan, path)
    assert CANARY not in str(caught.value)
    assert not path.exists()


def test_a_plan_is_verified_against_the_binding_it_was_made_for(
    tmp_path: Path, remote: list[RemoteConnector]
) -> None:
    here = PlanBinding("main", "production", "https://api.example/api/v2", "connectors", None)
    path = tmp_path / "plan.json"
    plan = make_plan([spec("upd", version="2.0.0"), spec("same")], remote)
    write(plan, path, binding=here)
    verify(read(path), desired_digest=DIGEST, remote=remote, checker=checker(), binding=here)
    elsewhere = dataclasses.replace(here, tenant="https://other.example/api/v2")
    with pytest.raises(SavedPlanError, match=r"planned for tenant 'https://api\.example/api/v2'"):
        verify(
            read(path), desired_digest=DIGEST, remote=remote, checker=checker(), binding=elsewhere
        )
    write(plan, path)  # a library call without a binding
    with pytest.raises(SavedPlanError, match="written without a binding"):
        verify(read(path), desired_digest=DIGEST, remote=remote, checker=checker(), binding=here)
