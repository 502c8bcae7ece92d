"""`cxrecon drift`, `cxrecon apply` and `cxrecon notify test` with `notifications:` against
the emulator and a real receiver: what each event says, that a broken destination never
changes an exit code, and that neither the URL nor a secret ever shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.testing import RunningEmulator

from .conftest import API_KEY, PASSWORD, URL_CANARY, Receiver, Run, add_notifications, ids

ACTIONS = {
    "GITHUB_SERVER_URL": "https://github.example",
    "GITHUB_REPOSITORY": "acme/connectors",
    "GITHUB_RUN_ID": "777",
    "GITHUB_SHA": "feedface" * 5,
}


def no_secrets(*texts: str) -> None:
    for text in texts:
        assert URL_CANARY not in text
        assert API_KEY not in text
        assert PASSWORD not in text


def subscribe(project: Path, url: str, events: str, name: str = "team-chat") -> None:
    add_notifications(
        project, f"notifications:\n  - name: {name}\n    url: {url}\n    events: [{events}]\n"
    )


def test_drift_tells_the_drift_and_the_deletion_with_commit_and_run_link(
    project: Path, receiver: Receiver, run: Run, emulator: RunningEmulator
) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    subscribe(project, receiver.url(), "drift, deleted-in-cxone")
    connectors = ids(emulator)
    emulator.control.edit(connectors["Support-Desk"], {"syncSettings": {"batchSize": 999}})
    emulator.control.delete(connectors["Legacy-Tickets"])

    result = run("drift", **ACTIONS)

    assert result.exit_code == 2, result.output
    drift, deleted = receiver.posts
    assert drift["title"] == "cxrecon: drift in local"
    assert drift["type"] == "warning"
    assert drift["message"] == (
        "**1 connector(s) changed in CXone since cxrecon last applied them.**\n\n"
        "- **Support-Desk**: syncSettings.batchSize: 200 → 999\n\n"
        "Environment local; project notify-tests; commit `feedfacefeed`.\n"
        "[workflow run](https://github.example/acme/connectors/actions/runs/777)"
    )
    assert deleted["title"] == "cxrecon: deleted in CXone in local"
    assert "- **Legacy-Tickets**: last applied " in deleted["message"]
    no_secrets(result.output, *receiver.messages())


def test_no_drift_sends_nothing(project: Path, receiver: Receiver, run: Run) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    subscribe(project, receiver.url(), "drift, deleted-in-cxone, applied")
    assert run("drift").exit_code == 0
    assert receiver.posts == []


def test_apply_tells_what_it_wrote_and_what_failed(
    project: Path, receiver: Receiver, run: Run, emulator: RunningEmulator
) -> None:
    subscribe(project, receiver.url(markdown=False), "applied, apply-failed")

    result = run("apply", "--auto-approve", **ACTIONS)

    assert result.exit_code == 0, result.output
    [applied] = receiver.posts
    assert applied["title"] == "cxrecon: applied in local"
    assert applied["type"] == "success"
    message = applied["message"]
    assert message.startswith("2 connector(s) written to CXone.\n")
    assert "- Legacy-Tickets: create, now INACTIVE\n" in message
    assert "- Support-Desk: create, now ACTIVE" in message
    assert "commit feedfacefeed" in message
    assert "Workflow run: https://github.example/acme/connectors/actions/runs/777" in message
    no_secrets(result.output, message)


def test_a_failed_connector_is_told_and_the_exit_code_stays_1(
    project: Path, receiver: Receiver, run: Run, emulator: RunningEmulator
) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    subscribe(project, receiver.url(), "apply-failed")
    legacy = project / "connectors" / "legacy.yaml"
    legacy.write_text(
        legacy.read_text().replace("connectorType: CUSTOM", "connectorType: SALESFORCE")
    )

    result = run("apply", "--auto-approve")

    assert result.exit_code == 1, result.output
    [failed] = receiver.posts
    assert failed["title"] == "cxrecon: apply failed in local"
    assert failed["type"] == "failure"
    assert failed["message"].startswith(
        "**1 connector(s) could not be applied.**\n\n"
        "- **Legacy-Tickets**: connectors/legacy.yaml:5:16: "
        "connectorType cannot change (CUSTOM → SALESFORCE); create a new connector"
    )
    no_secrets(result.output, failed["message"])


def test_an_apply_that_stops_before_its_connectors_is_told_with_its_reason(
    project: Path, receiver: Receiver, run: Run
) -> None:
    subscribe(project, receiver.url(markdown=False), "apply-failed, applied")

    result = run("apply", "--auto-approve", CXONE_CLIENT_SECRET="wrong-secret")

    assert result.exit_code == 1, result.output
    [failed] = receiver.posts
    assert failed["title"] == "cxrecon: apply failed in local"
    first, reason = failed["message"].split("\n")[:2]
    assert first == "The apply stopped before writing anything."
    assert reason
    assert reason in result.stderr.replace("error: ", "")
    assert "wrong-secret" not in failed["message"]


def test_a_dead_destination_never_changes_the_exit_code_and_is_named_not_shown(
    project: Path, dead_port: int, run: Run, emulator: RunningEmulator
) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    subscribe(project, f"json://127.0.0.1:{dead_port}/hook/{URL_CANARY}", "drift, applied")
    emulator.control.edit(ids(emulator)["Support-Desk"], {"description": "edited"})

    drift = run("drift")
    apply = run("apply", "--auto-approve")

    assert drift.exit_code == 2, drift.output
    assert apply.exit_code == 0, apply.output
    for result in (drift, apply):
        assert "warning: notification 'team-chat'" in result.stderr
        assert "the result of this run is unchanged" in result.stderr
        assert str(dead_port) not in result.output
        no_secrets(result.output)
    audit = (project / ".cxrecon" / "audit.jsonl").read_text()
    assert URL_CANARY not in audit
    assert "team-chat" not in audit


def test_notify_test_reports_each_destination(
    project: Path, receiver: Receiver, dead_port: int, run: Run
) -> None:
    add_notifications(
        project,
        f"""\
notifications:
  - name: chat
    url: {receiver.url()}
    events: [drift, applied]
  - name: broken
    url: json://127.0.0.1:{dead_port}/hook/{URL_CANARY}
    events: [drift]
""",
    )

    result = run("notify", "test")

    assert result.exit_code == 1
    assert result.stdout == (
        "chat: sent\nbroken: failed: the service refused the message or could not be reached\n"
    )
    [test] = receiver.posts
    assert test["title"] == "cxrecon: test message"
    assert "notification chat" in test["message"]
    assert "drift, applied" in test["message"]
    no_secrets(result.output)

    only = run("notify", "test", "--name", "chat")
    assert only.exit_code == 0
    assert only.stdout == "chat: sent\n"


def test_notify_test_refuses_an_unknown_name_and_an_empty_project(
    project: Path, receiver: Receiver, run: Run
) -> None:
    empty = run("notify", "test")
    assert empty.exit_code == 1
    assert "has no notifications; add a `notifications:` list" in empty.stderr
    subscribe(project, receiver.url(), "drift", name="chat")
    unknown = run("notify", "test", "--name", "chta")
    assert unknown.exit_code == 1
    assert "no notification named 'chta' in " in unknown.stderr
    assert "(known: chat)" in unknown.stderr
    assert receiver.posts == []


def test_notify_test_without_apprise_says_how_to_install_it(
    project: Path, receiver: Receiver, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from reconciler.notify import send

    monkeypatch.setitem(sys.modules, "apprise", None)
    monkeypatch.setattr(send, "_APPRISE", {})
    subscribe(project, receiver.url(), "drift")
    result = run("notify", "test")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: notifications need Apprise, which is not installed: pip install 'cxrecon[notify]'\n"
    )


def test_policy_violations_are_told_through_the_function_the_policies_stage_calls(
    project: Path, receiver: Receiver
) -> None:
    from reconciler.config.project import load_project
    from reconciler.notify.events import Violation
    from reconciler.notify.runs import notify_policy_violations

    subscribe(project, receiver.url(), "policy-violation")
    warnings: list[str] = []
    found = [
        Violation("https-only", "Support-Desk", "endpointUrl must use https", "error"),
        Violation("has-owner", "Legacy-Tickets", "labels.team is missing @here", "warning"),
    ]

    deliveries = notify_policy_violations(
        load_project(project), "local", found, warn=warnings.append, commit="ab" * 20, environ={}
    )

    assert [d.result.value for d in deliveries] == ["sent"]
    assert warnings == []
    [told] = receiver.posts
    assert told["title"] == "cxrecon: policy violation in local"
    assert told["message"].startswith(
        "**2 policy violation(s).**\n\n"
        "- **Support-Desk**: https-only (error): endpointUrl must use https\n"
        "- **Legacy-Tickets**: has-owner (warning): labels.team is missing @\u200bhere\n"
    )
    assert notify_policy_violations(load_project(project), "local", [], warn=warnings.append) == []
