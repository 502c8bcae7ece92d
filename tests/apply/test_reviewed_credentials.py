"""A reviewed plan covers the credentials git holds (issue 22, break 1): a token endpoint
pointed elsewhere or a secret reference swapped after the review is "not as reviewed" and
not written; a rotation behind the reviewed references is applied and said.

Against the emulator over a real port, through the CLI as a merge job runs it: the pull
request's plan job has no connector secrets, the merge's apply has them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.plan.saved import checksum
from reconciler.testing import RunningEmulator

from .helpers import (
    Project,
    connector_doc,
    remote_connectors,
    run_cli,
    stored_credential_matches,
    write_count,
)

TOKEN_URL = "https://login.crm.example/oauth/token"
ATTACKER = "https://attacker.example/steal"
#: Canary secret values: each reaches the emulator only, never any output or file.
SECRET_A = "canary-secret-a-5d1f0c"
SECRET_B = "canary-secret-b-93e2aa"


def oauth_doc(name: str, reference: str = "${env:CRM_SECRET_A}", **over: Any) -> dict[str, Any]:
    credentials = {"tokenEndpoint": TOKEN_URL, "clientId": "crm-app", "clientSecret": reference}
    auth = {"type": "OAUTH2", "credentials": credentials}
    return connector_doc(name, authentication=auth, **over)


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_SECRET_A", SECRET_A)
    monkeypatch.setenv("CRM_SECRET_B", SECRET_B)


def credentials_of(emulator: RunningEmulator, name: str) -> dict[str, str]:
    [found] = [c for c in remote_connectors(emulator.control) if c["name"] == name]
    creds: dict[str, str] = found["authentication"]["credentials"]
    return creds


def connector_id(emulator: RunningEmulator, name: str) -> str:
    return next(str(c["id"]) for c in remote_connectors(emulator.control) if c["name"] == name)


def apply_all(*docs: dict[str, Any], project: Project) -> None:
    for doc in docs:
        project.write(doc)
    result = run_cli(["apply", "--auto-approve"])
    assert result.exit_code == 0, result.output


def reviewed_plan(project: Project, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`plan --out` as a pull request's job runs it: without the connector secrets."""
    saved = project.root / "reviewed.json"
    with monkeypatch.context() as job:
        job.delenv("CRM_SECRET_A")
        job.delenv("CRM_SECRET_B")
        result = run_cli(["plan", "--out", str(saved)])
    assert result.exit_code == 0, result.output
    no_secret_in(saved.read_text(encoding="utf-8"))
    return saved


def apply_reviewed(saved: Path) -> Any:
    return run_cli(["apply", "--plan", str(saved), "--if-stale", "reviewed", "--auto-approve"])


def no_secret_in(*texts: str) -> None:
    for text in texts:
        assert SECRET_A not in text
        assert SECRET_B not in text


def test_a_token_endpoint_pushed_after_the_review_is_held_not_written(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    alpha = oauth_doc("Alpha")
    apply_all(alpha, project=project)
    project.write({**alpha, "description": "reviewed change"})
    saved = reviewed_plan(project, monkeypatch)
    # A later commit, after the review: CXone would send the CRM secret to this endpoint.
    hostile = json.loads(json.dumps(alpha))
    hostile["authentication"]["credentials"]["tokenEndpoint"] = ATTACKER
    project.write({**hostile, "description": "reviewed change"})
    writes = write_count(emulator.control)

    result = apply_reviewed(saved)

    assert result.exit_code == 1, result.output
    assert "0 as reviewed (applied), 1 not reviewed (held, not applied)" in result.output
    assert "Alpha: update, as reviewed" not in result.output
    assert "Alpha: differs from the reviewed plan" in result.output
    assert "not reviewed: authentication.credentials[tokenEndpoint]" in result.output
    assert f"tokenEndpoint '{TOKEN_URL}' → '{ATTACKER}'" in result.output
    assert write_count(emulator.control) == writes
    assert credentials_of(emulator, "Alpha")["tokenEndpoint"] == TOKEN_URL
    no_secret_in(result.output, project.audit_log.read_text(encoding="utf-8"))


def test_a_secret_reference_swapped_after_the_review_is_held_not_written(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    alpha = oauth_doc("Alpha")
    apply_all(alpha, project=project)
    project.write({**alpha, "description": "reviewed change"})
    saved = reviewed_plan(project, monkeypatch)
    project.write({**oauth_doc("Alpha", "${env:CRM_SECRET_B}"), "description": "reviewed change"})
    writes = write_count(emulator.control)

    result = apply_reviewed(saved)

    assert result.exit_code == 1, result.output
    assert (
        "credentials differ: clientSecret ${env:CRM_SECRET_A} → ${env:CRM_SECRET_B}"
        in result.output
    )
    assert write_count(emulator.control) == writes
    alpha_id = connector_id(emulator, "Alpha")
    assert stored_credential_matches(emulator.db_path, alpha_id, "clientSecret", SECRET_A)
    no_secret_in(result.output)


def test_a_reviewed_token_endpoint_change_is_shown_in_clear_and_applied(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    alpha, beta = oauth_doc("Alpha"), oauth_doc("Beta")
    apply_all(alpha, beta, project=project)
    moved = json.loads(json.dumps(alpha))
    moved["authentication"]["credentials"]["tokenEndpoint"] = "https://login2.crm.example/t"
    project.write(moved)
    shown = run_cli(["plan"])
    assert (
        '~ authentication.credentials[tokenEndpoint]: "https://login.crm.example/oauth/token" → '
        '"https://login2.crm.example/t"'
    ) in shown.output
    saved = reviewed_plan(project, monkeypatch)
    project.write({**beta, "description": "not reviewed here"})  # makes the plan stale

    result = apply_reviewed(saved)

    assert result.exit_code == 1, result.output  # Beta is held
    assert "Alpha: update, as reviewed; credentials rotated" in result.output
    assert "Beta: not in the reviewed plan" in result.output
    assert credentials_of(emulator, "Alpha")["tokenEndpoint"] == "https://login2.crm.example/t"
    assert credentials_of(emulator, "Beta")["tokenEndpoint"] == TOKEN_URL
    no_secret_in(result.output, shown.output)


def test_a_rotation_behind_the_reviewed_reference_is_applied_and_named(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    alpha, beta = oauth_doc("Alpha"), oauth_doc("Beta")
    apply_all(alpha, beta, project=project)
    project.write({**alpha, "description": "reviewed change"})
    saved = reviewed_plan(project, monkeypatch)
    project.write({**beta, "description": "not reviewed here"})  # makes the plan stale
    monkeypatch.setenv("CRM_SECRET_A", SECRET_B)  # the secret store rotated the value

    result = apply_reviewed(saved)

    assert result.exit_code == 1, result.output  # Beta is held
    assert (
        "Alpha: update, as reviewed; credentials rotated, written from "
        "clientId (value in git), clientSecret ${env:CRM_SECRET_A}, tokenEndpoint (value in git)"
    ) in result.output
    alpha_id = connector_id(emulator, "Alpha")
    assert stored_credential_matches(emulator.db_path, alpha_id, "clientSecret", SECRET_B)
    no_secret_in(result.output, project.audit_log.read_text(encoding="utf-8"))


def test_a_reviewed_plan_without_credentials_is_not_as_reviewed(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan made before reviewed plans covered credentials (or one whose credentials were
    cut out) cannot vouch for them: its changes are held."""
    alpha, beta = oauth_doc("Alpha"), oauth_doc("Beta")
    apply_all(alpha, beta, project=project)
    project.write({**alpha, "description": "reviewed change"})
    saved = reviewed_plan(project, monkeypatch)
    doc = json.loads(saved.read_text())
    for change in doc["plan"]["changes"]:
        del change["credentialSpec"]
    doc["checksum"] = checksum(doc)
    saved.write_text(json.dumps(doc))
    project.write({**beta, "description": "not reviewed here"})
    writes = write_count(emulator.control)

    result = apply_reviewed(saved)

    assert result.exit_code == 1, result.output
    assert "credentials not in the reviewed plan (made by an older cxrecon)" in result.output
    assert write_count(emulator.control) == writes
