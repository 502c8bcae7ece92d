"""The audit log: one JSON line per event, append-only, durable on close, never a secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.apply.actor import Actor, detect_actor
from reconciler.apply.audit import AuditLog
from reconciler.apply.audit_records import AuditEvent, observed_changes
from reconciler.secret import MASK, Secret, is_secret_path, mask_value

CANARY = "canary-9f3b1c7e-do-not-leak"


def read_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_each_event_is_one_line_with_the_documented_fields(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "audit.jsonl"
    actor = Actor(user="alice", ci_actor="octocat", git_commit="a" * 40)
    with AuditLog(path, actor=actor, environment="prod", run_id="run-1") as log:
        log.record(
            AuditEvent(
                connector="crm-a",
                connector_id="c-1",
                action="update",
                result="success",
                fields=("endpointUrl", "mappings[contact.email].direction"),
                etag_before='"e1"',
                etag_after='"e2"',
                http_status=200,
                attempts=2,
                latency_ms=12.3456,
            )
        )
    (record,) = read_lines(path)
    assert record["runId"] == "run-1"
    assert record["environment"] == "prod"
    assert record["actor"] == {"user": "alice", "ciActor": "octocat", "gitCommit": "a" * 40}
    assert record["connector"] == "crm-a"
    assert record["connectorId"] == "c-1"
    assert record["action"] == "update"
    assert record["fields"] == ["endpointUrl", "mappings[contact.email].direction"]
    assert (record["etagBefore"], record["etagAfter"]) == ('"e1"', '"e2"')
    assert record["httpStatus"] == 200
    assert record["attempts"] == 2
    assert record["latencyMs"] == 12.346
    assert record["result"] == "success"
    assert record["error"] is None
    assert str(record["time"]).endswith("+00:00")


def test_a_second_run_appends_instead_of_overwriting(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    for run in ("r1", "r2"):
        with AuditLog(path, actor=Actor("u"), environment=None, run_id=run) as log:
            log.record(AuditEvent(connector="x", action="create", result="success"))
    assert [r["runId"] for r in read_lines(path)] == ["r1", "r2"]


def test_each_record_reaches_the_file_before_close(tmp_path: Path) -> None:
    # A process killed with -9 must not lose the records already written.
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, actor=Actor("u"), environment=None)
    log.record(AuditEvent(connector="x", action="create", result="success"))
    assert len(read_lines(path)) == 1
    log.close()
    log.close()  # idempotent: the signal handler and the finally block may both call it
    assert log.closed
    with pytest.raises(RuntimeError, match="closed"):
        log.record(AuditEvent(connector="x", action="create", result="success"))


def test_close_runs_when_the_body_is_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, actor=Actor("u"), environment=None)
    with pytest.raises(KeyboardInterrupt), log:  # noqa: PT012 - interrupt after a record
        log.record(AuditEvent(connector="x", action="create", result="success"))
        raise KeyboardInterrupt
    assert log.closed
    assert len(read_lines(path)) == 1


def test_registered_secret_values_are_masked_even_inside_messages(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, actor=Actor("u"), environment=None) as log:
        log.register_secret(Secret(CANARY))
        log.record(
            AuditEvent(
                connector="x",
                action="create",
                result="failure",
                error_class="ValidationFailed",
                error_message=f"server echoed {CANARY} back",
            )
        )
    text = path.read_text(encoding="utf-8")
    assert CANARY not in text
    assert MASK in text


def test_out_of_band_changes_mask_secret_paths() -> None:
    changes = observed_changes(
        [
            ("endpointUrl", "https://a.example", "https://b.example"),
            ("authentication.credentials.clientSecret", CANARY, "other"),
            ("labels", {"team": "x", "apiToken": "not-secret"}, {"team": "y"}),
            (
                "authentication",
                {"type": "OAUTH2", "credentials": {"clientId": "app", "clientSecret": CANARY}},
                None,
            ),
        ]
    )
    assert changes[0].seen == "https://a.example"
    assert changes[1].seen == MASK
    assert changes[1].found == MASK
    # Secret is what the connector schema marks writeOnly, never a name's sound.
    assert changes[2].seen == {"team": "x", "apiToken": "not-secret"}
    assert changes[3].seen == {
        "type": "OAUTH2",
        "credentials": {"clientId": "app", "clientSecret": MASK},
    }
    assert CANARY not in repr(changes)


@pytest.mark.parametrize(
    ("path", "secret"),
    [
        # Only what the connector schema marks writeOnly (or does not describe) is secret.
        ("authentication.credentials.clientSecret", True),
        ("authentication.credentials[apiKey]", True),
        ("authentication.credentials.clientId", False),
        ("authentication.credentials.tokenEndpoint", False),
        ("labels.clientSecret", False),
        ("mappings[contact.custom.sso_token].crmField", False),
        ("endpointUrl", False),
        ("mappings[contact.email].direction", False),
    ],
)
def test_secret_paths_are_recognised(path: str | tuple[str, ...], secret: bool) -> None:
    assert is_secret_path(path) is secret
    assert (mask_value(path, "v") == MASK) is secret


def test_actor_comes_from_ci_and_git(tmp_path: Path) -> None:
    actor = detect_actor({"GITHUB_ACTOR": "octocat", "GITHUB_SHA": "b" * 40}, tmp_path)
    assert actor.ci_actor == "octocat"
    assert actor.git_commit == "b" * 40
    assert actor.user


def test_actor_outside_git_and_ci_is_the_os_user(tmp_path: Path) -> None:
    actor = detect_actor({}, tmp_path)
    assert actor.ci_actor is None
    assert actor.git_commit is None
    assert actor.user
