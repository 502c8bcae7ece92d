"""A pull request that only swaps a secret reference (`${env:SF_SECRET}` → `${env:SF_SECRET2}`)
is a credential rotation (issue 22, "secret references by reference name"): the plan a PR job
makes without secrets shows it, the reviewed merge apply writes it, and the next plan is clean.

Against the emulator over a real port, through the CLI as a merge job runs it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reconciler.model import LABEL_CREDENTIALS_FINGERPRINT
from reconciler.testing import RunningEmulator

from .helpers import (
    Project,
    all_text_files,
    connector_doc,
    remote_connectors,
    run_cli,
    stored_credential_matches,
    write_count,
)

#: Canary secret values: each reaches the emulator only, never any output or file.
OLD_SECRET = "canary-old-secret-71c0de"
NEW_SECRET = "canary-new-secret-a9f4e2"


def oauth_doc(reference: str, name: str = "Alpha") -> dict[str, Any]:
    credentials = {
        "tokenEndpoint": "https://login.crm.example/oauth/token",
        "clientId": "crm-app",
        "clientSecret": reference,
    }
    return connector_doc(name, authentication={"type": "OAUTH2", "credentials": credentials})


def alpha(emulator: RunningEmulator) -> dict[str, Any]:
    [found] = [c for c in remote_connectors(emulator.control) if c["name"] == "Alpha"]
    return found


def label_of(emulator: RunningEmulator) -> str:
    label: str = alpha(emulator)["labels"][LABEL_CREDENTIALS_FINGERPRINT]
    return label


def no_leak(texts: list[str], *, label: str) -> None:
    """No secret value, and not the label's reference digest, in any output or file."""
    digest = label.split(".")[4] if label.count(".") == 4 else None
    for text in texts:
        assert OLD_SECRET not in text
        assert NEW_SECRET not in text
        if digest is not None:
            assert digest not in text


@pytest.fixture
def applied(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> Project:
    monkeypatch.setenv("SF_SECRET", OLD_SECRET)
    project.write(oauth_doc("${env:SF_SECRET}"))
    result = run_cli(["apply", "--auto-approve"])
    assert result.exit_code == 0, result.output
    return project


def test_a_reference_swap_is_a_rotation_the_reviewed_merge_writes(
    applied: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = applied
    first_label = label_of(emulator)
    assert first_label.count(".") == 4  # apply records the references' digest
    project.write(oauth_doc("${env:SF_SECRET2}"))  # the pull request: only the reference
    saved = project.root / "reviewed.json"
    outputs: list[str] = []

    # The PR job: no connector secrets at all.
    monkeypatch.delenv("SF_SECRET")
    shown = run_cli(["plan", "--out", str(saved)])
    outputs.append(shown.output)
    assert shown.exit_code == 0, shown.output
    assert "No changes" not in shown.output
    assert "credentials: rotated (a secret reference changed)" in shown.output
    document = json.loads(saved.read_text(encoding="utf-8"))
    [change] = document["plan"]["changes"]
    assert change["action"] == "update"
    as_json = run_cli(["plan", "--format", "json"])
    outputs.append(as_json.output)
    needed = {n["reference"]: n["connectors"] for n in json.loads(as_json.output)["secretsNeeded"]}
    assert needed == {"${env:SF_SECRET2}": ["Alpha"]}  # what the merge job must provide

    # The merge job: the new secret is there (the old one need not be).
    monkeypatch.setenv("SF_SECRET2", NEW_SECRET)
    writes = write_count(emulator.control)
    result = run_cli(["apply", "--plan", str(saved), "--if-stale", "reviewed", "--auto-approve"])
    outputs.append(result.output)
    assert result.exit_code == 0, result.output
    assert "credentials: rotated (a secret reference changed)" in result.output
    assert "clientSecret ${env:SF_SECRET2}" in result.output
    assert write_count(emulator.control) > writes
    assert stored_credential_matches(
        emulator.db_path, str(alpha(emulator)["id"]), "clientSecret", NEW_SECRET
    )
    second_label = label_of(emulator)
    assert second_label.count(".") == 4
    assert second_label != first_label

    # Nothing left to do, with or without the secret.
    for env in ({}, {"SF_SECRET2": ""}):
        with monkeypatch.context() as job:
            for name in env:
                job.delenv(name)
            again = run_cli(["plan"])
        outputs.append(again.output)
        assert again.exit_code == 0, again.output
        assert "No changes" in again.output

    texts = outputs + [text for _, text in all_text_files(project.root)]
    for label in (first_label, second_label):
        no_leak(texts, label=label)


def test_a_reference_swap_in_a_stale_reviewed_plan_is_applied_as_reviewed(
    applied: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the tenant or git moved on after the review, the comparison with the reviewed
    plan names the swap as the rotation the reviewer saw and writes it."""
    project = applied
    project.write(oauth_doc("${env:SF_SECRET2}"))
    saved = project.root / "reviewed.json"
    monkeypatch.delenv("SF_SECRET")
    shown = run_cli(["plan", "--out", str(saved)])
    assert shown.exit_code == 0, shown.output
    project.write(connector_doc("Beta"))  # not reviewed: makes the saved plan stale
    monkeypatch.setenv("SF_SECRET2", NEW_SECRET)

    result = run_cli(["apply", "--plan", str(saved), "--if-stale", "reviewed", "--auto-approve"])

    assert result.exit_code == 1, result.output  # Beta is held
    assert "Alpha: update, as reviewed; credentials rotated" in result.output
    assert "Beta: not in the reviewed plan" in result.output
    assert stored_credential_matches(
        emulator.db_path, str(alpha(emulator)["id"]), "clientSecret", NEW_SECRET
    )
    no_leak([shown.output, result.output], label=label_of(emulator))


def test_a_label_from_an_older_cxrecon_is_not_a_rotation(
    applied: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A four-part label (written before the references' digest existed) keeps meaning what
    it meant: unchanged references and values plan as no change; the next write of the
    credentials records the fifth part."""
    project = applied
    old = ".".join(label_of(emulator).split(".")[:4])
    connector = alpha(emulator)
    labels = {**connector["labels"], LABEL_CREDENTIALS_FINGERPRINT: old}
    emulator.control.edit(str(connector["id"]), {"labels": labels})

    monkeypatch.delenv("SF_SECRET")
    shown = run_cli(["plan"])
    assert shown.exit_code == 0, shown.output
    assert "No changes" in shown.output

    monkeypatch.setenv("SF_SECRET", OLD_SECRET)
    project.write(oauth_doc("${env:SF_SECRET2}"))
    monkeypatch.setenv("SF_SECRET2", NEW_SECRET)
    result = run_cli(["apply", "--auto-approve"])
    assert result.exit_code == 0, result.output
    assert label_of(emulator).count(".") == 4
    no_leak([shown.output, result.output], label=label_of(emulator))
