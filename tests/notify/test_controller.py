"""The controller (`cxrecon reconcile`) with `notifications:`: a drift is told once until it
changes or is resolved, across cycles and across a restart with the same state directory;
not-ready once, a recovery once; a dead destination is retried later, never fails a cycle;
`cxrecon_notifications_total{event,result}` counts each message."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import httpx
import pytest

# The controller tests' git helper (tests/ is no package: its folders are top-level ones).
from controller.helpers import git

from reconciler.config.settings import ConnectionSettings
from reconciler.controller.loop import Controller
from reconciler.controller.report import ControllerOptions, CycleResult
from reconciler.testing import RunningEmulator

from .conftest import URL_CANARY, Receiver

pytestmark = pytest.mark.anyio

API_KEY = "CANARY-controller-api-key-0b5e"
CONNECTOR = """\
name: Alpha
description: managed by git
lifecycleStatus: ACTIVE
connectorType: CUSTOM
endpointUrl: https://crm.example/alpha
authentication:
  type: API_KEY
  credentials:
    apiKey: ${env:CRM_API_KEY}
    headerName: X-Api-Key
mappings:
  - cxoneField: contact.external_id
    crmField: id
    direction: INBOUND
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "connectors").mkdir(parents=True)
    (root / "connectors" / "alpha.yaml").write_text(CONNECTOR)
    git(root, "init", "-q")
    return root


def configure(repo: Path, url: str, events: str) -> str:
    """cxrecon.yaml with one destination; commits it and returns the commit."""
    (repo / "cxrecon.yaml").write_text(
        "project: ctl\nconnectors: connectors/\n"
        f"notifications:\n  - name: team-chat\n    url: {url}\n    events: [{events}]\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "connectors")
    return git(repo, "rev-parse", "HEAD")


def controller(repo: Path, emulator: RunningEmulator, state: Path, **options: object) -> Controller:
    settings = ConnectionSettings.for_emulator(emulator.base_url)
    opts = ControllerOptions(
        repo=repo,
        audit_log=state / "audit.jsonl",
        pull=False,
        interval=0.5,
        **options,  # type: ignore[arg-type]
    )
    return Controller(
        opts,
        settings_for=lambda _p, _e: settings,
        environ={"CRM_API_KEY": API_KEY, "CXRECON_STATUS_URL": "https://cxrecon.acme.example"},
        process_metrics=False,
    )


def alpha_id(emulator: RunningEmulator) -> str:
    response = httpx.get(
        emulator.base_url + "/crm/connectors",
        params={"top": 100},
        headers=emulator.control.auth_headers(),
    )
    return str(next(c["id"] for c in response.json()["items"] if c["name"] == "Alpha"))


def metric(ctl: Controller, event: str, result: str) -> str:
    body = ctl.metrics()[0].decode()
    prefix = f'cxrecon_notifications_total{{event="{event}",result="{result}"}} '
    return next(
        (line.removeprefix(prefix) for line in body.splitlines() if line.startswith(prefix)), "0"
    )


async def test_a_drift_is_told_once_until_it_changes_or_is_resolved_even_across_a_restart(
    repo: Path, emulator: RunningEmulator, receiver: Receiver, tmp_path: Path
) -> None:
    commit = configure(repo, receiver.url(), "drift, applied")
    state = tmp_path / "state"
    ctl = controller(repo, emulator, state)
    await ctl.cycle()  # creates Alpha
    [applied] = receiver.posts
    assert applied["title"] == "cxrecon: applied"
    assert "- **Alpha**: create, now ACTIVE" in applied["message"]
    assert f"commit `{commit[:12]}`" in applied["message"]
    assert "[status page](https://cxrecon.acme.example/)" in applied["message"]

    connector = alpha_id(emulator)
    emulator.control.edit(connector, {"description": "edited in CXone"})
    await ctl.cycle()
    await ctl.cycle()  # the same drift: not told again
    told = [p for p in receiver.posts if p["title"] == "cxrecon: drift"]
    assert len(told) == 1
    assert told[0]["message"].startswith(
        "**1 connector(s) changed in CXone since cxrecon last applied them.**\n\n"
        '- **Alpha**: description: "managed by git" → "edited in CXone"\n'
    )
    assert metric(ctl, "drift", "sent") == "1.0"
    assert metric(ctl, "applied", "sent") == "1.0"

    restarted = controller(repo, emulator, state)  # same state directory
    await restarted.cycle()
    assert len([p for p in receiver.posts if p["title"] == "cxrecon: drift"]) == 1

    emulator.control.edit(connector, {"description": "edited again"})  # the drift changes
    await restarted.cycle()
    emulator.control.edit(connector, {"description": "managed by git"})  # resolved
    await restarted.cycle()
    emulator.control.edit(connector, {"description": "edited again"})  # back: told again
    await restarted.cycle()
    drifts = [p["message"] for p in receiver.posts if p["title"] == "cxrecon: drift"]
    assert len(drifts) == 3
    assert '"edited again"' in drifts[1]
    assert '"edited again"' in drifts[2]
    assert "notified.json" in os.listdir(state)
    remembered = (state / "notified.json").read_text()
    assert "edited" not in remembered  # digests, never values
    assert URL_CANARY not in remembered


async def test_not_ready_is_told_once_and_the_recovery_once(
    repo: Path, emulator: RunningEmulator, receiver: Receiver, tmp_path: Path
) -> None:
    configure(repo, receiver.url(), "controller-not-ready, controller-recovered")
    ctl = controller(repo, emulator, tmp_path / "state")
    assert (await ctl.cycle()).result is CycleResult.SUCCESS
    assert receiver.posts == []  # ready from the start: nothing to recover from
    alpha = repo / "connectors" / "alpha.yaml"
    alpha.write_text(CONNECTOR.replace("lifecycleStatus: ACTIVE", "lifecycleStatus: SLEEPING"))

    assert (await ctl.cycle()).result is CycleResult.FAILED
    assert (await ctl.cycle()).result is CycleResult.FAILED
    [down] = receiver.posts
    assert down["title"] == "cxrecon: controller not ready"
    assert down["type"] == "failure"
    assert down["message"].startswith("**The controller is not ready.**\ncycle 2 failed: ")

    alpha.write_text(CONNECTOR)
    await ctl.cycle()
    await ctl.cycle()
    assert [p["title"] for p in receiver.posts] == [
        "cxrecon: controller not ready",
        "cxrecon: controller recovered",
    ]
    assert receiver.posts[1]["message"].startswith("**The controller is ready again.**\ncycle 4")


async def test_a_dead_destination_never_fails_a_cycle_and_is_retried(
    repo: Path,
    emulator: RunningEmulator,
    dead_port: int,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure(repo, f"json://127.0.0.1:{dead_port}/hook/{URL_CANARY}", "applied, drift")
    ctl = controller(repo, emulator, tmp_path / "state")
    with caplog.at_level(logging.DEBUG):
        report = await ctl.cycle()
        emulator.control.edit(alpha_id(emulator), {"description": "edited in CXone"})
        await ctl.cycle()
        await ctl.cycle()
    assert report.result is CycleResult.SUCCESS
    assert metric(ctl, "applied", "failed") == "1.0"
    assert metric(ctl, "drift", "failed") == "2.0"  # not delivered, so tried again
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("notification 'team-chat' (drift) was not delivered") for m in warnings)
    assert URL_CANARY not in caplog.text
    assert str(dead_port) not in caplog.text
    assert API_KEY not in caplog.text


async def test_a_project_without_notifications_keeps_no_memory_file(
    repo: Path, emulator: RunningEmulator, tmp_path: Path
) -> None:
    (repo / "cxrecon.yaml").write_text("project: ctl\nconnectors: connectors/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "connectors")
    state = tmp_path / "state"
    ctl = controller(repo, emulator, state)
    await ctl.cycle()
    assert not (state / "notified.json").exists()
    assert metric(ctl, "drift", "sent") == "0"


def test_each_environment_keeps_its_own_memory_file() -> None:
    from reconciler.notify.memory import file_name

    assert file_name(None) == "notified.json"
    assert file_name("production") == "notified-production.json"
    assert file_name("../x") == "notified-___x.json"
