"""`policy-violation` against a real receiver: `cxrecon apply` tells the violations of the
connectors it writes or holds (one message, next to `apply-failed` for those held); the
controller tells each violation once until it changes or is resolved, across a restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from controller.helpers import git

from reconciler.testing import RunningEmulator

from .conftest import API_KEY, PASSWORD, URL_CANARY, Receiver, Run, add_notifications
from .test_controller import CONNECTOR, configure, controller

POLICIES = """\
policies:
  - name: https-support
    rule: connector.endpointUrl.startsWith("https://support.acme-crm.example/")
    message: support connectors talk only to support.acme-crm.example
    connectors: ["Support-*"]
  - name: owning-team
    severity: warning
    rule: has(connector.labels.team)
    message: set labels.team to the team that owns it (@here)
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "connectors").mkdir(parents=True)
    (root / "connectors" / "alpha.yaml").write_text(CONNECTOR)
    git(root, "init", "-q")
    return root


def told(receiver: Receiver, title: str) -> list[str]:
    return [str(p["message"]) for p in receiver.posts if p["title"] == title]


def test_apply_tells_the_violations_of_what_it_writes_and_holds(
    project: Path, receiver: Receiver, run: Run
) -> None:
    add_notifications(
        project,
        POLICIES.replace("support.acme-crm.example/", "crm.acme.example/")
        + f"notifications:\n  - name: team-chat\n    url: {receiver.url()}\n"
        "    events: [policy-violation, apply-failed]\n",
    )

    result = run("apply", "--auto-approve")

    assert result.exit_code == 1, result.output  # Support-Desk is held; Legacy-Tickets applied
    [message] = told(receiver, "cxrecon: policy violation in local")
    assert message.startswith("**2 policy violation(s).**\n\n")
    assert (
        "- **Support-Desk**: https-support (error): support connectors talk only to "
        "support.acme-crm.example (connectors/support-desk.yaml:4:1)\n"
    ) in message
    assert "- **Legacy-Tickets**: owning-team (warning): set labels.team to the team that " in (
        message
    )
    assert "@\u200bhere" in message  # mentions nobody
    [failed] = told(receiver, "cxrecon: apply failed in local")
    assert "**Support-Desk**: not written: it breaks policy 'https-support'" in failed
    for text in (result.output, *receiver.messages()):
        assert URL_CANARY not in text
        assert API_KEY not in text
        assert PASSWORD not in text


def test_a_reviewed_saved_plan_shows_and_tells_its_violations_too(
    project: Path, receiver: Receiver, run: Run
) -> None:
    add_notifications(
        project,
        POLICIES.replace("support.acme-crm.example/", "crm.acme.example/")
        + f"notifications:\n  - name: team-chat\n    url: {receiver.url()}\n"
        "    events: [policy-violation]\n",
    )
    saved = project / "plan.json"
    assert run("plan", "--out", str(saved)).exit_code == 1  # an error policy is broken

    result = run("apply", "--plan", str(saved), "--auto-approve")

    assert result.exit_code == 1, result.output
    assert "Policy: 1 error(s), 1 warning(s) (apply will not write those connectors)" in (
        result.output
    )
    [message] = told(receiver, "cxrecon: policy violation in local")
    assert "- **Support-Desk**: https-support (error): " in message


def test_apply_does_not_tell_the_violations_of_connectors_it_leaves_alone(
    project: Path, receiver: Receiver, run: Run
) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    add_notifications(
        project,
        POLICIES + f"notifications:\n  - name: team-chat\n    url: {receiver.url()}\n"
        "    events: [policy-violation]\n",
    )
    legacy = project / "connectors" / "legacy.yaml"
    legacy.write_text(
        legacy.read_text().replace("lifecycleStatus: INACTIVE", "lifecycleStatus: ACTIVE")
    )

    result = run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output

    [message] = told(receiver, "cxrecon: policy violation in local")
    assert message.startswith("**1 policy violation(s).**\n\n- **Legacy-Tickets**: owning-team")
    assert "Support-Desk" not in message  # unchanged: the controller tells standing ones


@pytest.mark.anyio
async def test_the_controller_tells_each_violation_once_until_it_changes_or_is_resolved(
    repo: Path, emulator: RunningEmulator, receiver: Receiver, tmp_path: Path
) -> None:
    configure(repo, receiver.url(), "policy-violation")
    yaml = repo / "cxrecon.yaml"
    rule = (
        "policies:\n  - name: owning-team\n    severity: warning\n"
        "    rule: has(connector.labels.team)\n    message: set labels.team\n"
        "  - name: crm-hosts\n    rule: connector.endpointUrl.startsWith('https://crm.example/')\n"
        "    message: talk only to crm.example\n"
    )
    yaml.write_text(yaml.read_text() + rule)
    state = tmp_path / "state"
    ctl = controller(repo, emulator, state)
    await ctl.cycle()
    await ctl.cycle()  # the same violation: not told again
    [first] = told(receiver, "cxrecon: policy violation")
    assert first.startswith("**1 policy violation(s).**\n\n- **Alpha**: owning-team (warning): ")

    restarted = controller(repo, emulator, state)  # same state directory
    await restarted.cycle()
    assert len(told(receiver, "cxrecon: policy violation")) == 1

    # A second policy broken by the same connector is news; the first is not told again.
    alpha = repo / "connectors" / "alpha.yaml"
    alpha.write_text(CONNECTOR.replace("https://crm.example/alpha", "https://evil.example/a"))
    await restarted.cycle()
    messages = told(receiver, "cxrecon: policy violation")
    assert len(messages) == 2
    assert "crm-hosts (error): talk only to crm.example" in messages[1]
    assert "owning-team" not in messages[1]

    # Resolved, then back: told again.
    alpha.write_text(CONNECTOR + "labels:\n  team: ops\n")
    await restarted.cycle()
    alpha.write_text(CONNECTOR)
    await restarted.cycle()
    messages = told(receiver, "cxrecon: policy violation")
    assert len(messages) == 3
    assert "owning-team (warning)" in messages[2]
    remembered = json.loads(next(state.glob("notified*.json")).read_text())
    assert "set labels.team" not in json.dumps(remembered)  # digests, never messages
