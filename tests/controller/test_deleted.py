"""A connector the controller manages that someone deletes in CXone (issue 15): reported as
deleted in CXone (decision, log line, /status, the cxrecon_deleted_connectors gauge) and
re-created only with --self-heal; known from the audit log or from earlier cycles."""

from __future__ import annotations

import json
import logging

import pytest

from reconciler.controller.loop import Controller
from reconciler.controller.report import ConnectorReport, Decision
from reconciler.plan.changes import Action
from reconciler.testing import RunningEmulator

from .helpers import CANARY, ControllerFactory, remote_connectors, writes_seen

pytestmark = pytest.mark.anyio


def alpha(report_connectors: tuple[ConnectorReport, ...]) -> ConnectorReport:
    return next(c for c in report_connectors if c.name == "Alpha")


def gauge(controller: Controller) -> str:
    body = controller.metrics()[0].decode()
    return next(
        line for line in body.splitlines() if line.startswith("cxrecon_deleted_connectors ")
    )


async def test_a_deleted_connector_is_reported_not_recreated_without_self_heal(
    make_controller: ControllerFactory,
    emulator: RunningEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await make_controller().cycle()  # creates Alpha; the audit log records it
    old_id = remote_connectors(emulator)["Alpha"]["id"]
    emulator.control.delete(old_id)
    controller = make_controller(self_heal=False)
    before = writes_seen(emulator)
    # Only this cycle's lines: a test run before this one may have left the controller's
    # logger at INFO, so the first cycle's lines would be captured too.
    caplog.clear()

    with caplog.at_level(logging.INFO, logger="cxrecon.controller"):
        report = await controller.cycle()

    found = alpha(report.connectors)
    assert found.deleted
    assert found.action is Action.CREATE
    assert found.decision is Decision.REPORT
    assert "deleted in CXone" in (found.reason or "")
    assert old_id in (found.reason or "")
    assert "--self-heal re-creates it" in (found.reason or "")
    assert writes_seen(emulator) == before
    assert "Alpha" not in remote_connectors(emulator)
    assert gauge(controller) == "cxrecon_deleted_connectors 1.0"
    status = json.loads(controller.status_json())
    assert status["lastCycle"]["deleted"] == 1
    assert status["lastCycle"]["connectors"][0]["deletedInCxone"] is True
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("Alpha: deleted in CXone;") for line in lines), lines
    assert "1 deleted in CXone" in lines[0]
    assert CANARY not in caplog.text


async def test_with_self_heal_a_deleted_connector_is_recreated(
    make_controller: ControllerFactory, emulator: RunningEmulator
) -> None:
    await make_controller().cycle()
    emulator.control.delete(remote_connectors(emulator)["Alpha"]["id"])
    controller = make_controller(self_heal=True)

    report = await controller.cycle()

    found = alpha(report.connectors)
    assert found.deleted
    assert found.decision is Decision.APPLY
    assert found.written
    assert remote_connectors(emulator)["Alpha"]["lifecycleStatus"] == "ACTIVE"
    again = await controller.cycle()
    assert not alpha(again.connectors).deleted
    assert alpha(again.connectors).decision is Decision.IN_SYNC
    assert gauge(controller) == "cxrecon_deleted_connectors 0.0"


async def test_a_connector_seen_managed_in_an_earlier_cycle_is_known_without_an_audit_record(
    make_controller: ControllerFactory, emulator: RunningEmulator
) -> None:
    # Created by another writer (think: `cxrecon apply` in CI) whose audit log is elsewhere.
    creator = make_controller()
    await creator.cycle()
    creator.options.audit_log.unlink()
    controller = make_controller()
    first = await controller.cycle()
    assert alpha(first.connectors).decision is Decision.IN_SYNC
    emulator.control.delete(remote_connectors(emulator)["Alpha"]["id"])

    report = await controller.cycle()

    found = alpha(report.connectors)
    assert found.deleted
    assert found.decision is Decision.REPORT
    assert "from the controller" in (found.reason or "")
    # The controller only saw it: the time is when, not an apply.
    assert "last seen " in (found.reason or "")
    assert "last applied" not in (found.reason or "")
    assert "Alpha" not in remote_connectors(emulator)


async def test_a_connector_never_applied_is_a_plain_create(
    make_controller: ControllerFactory, emulator: RunningEmulator
) -> None:
    report = await make_controller().cycle()

    found = alpha(report.connectors)
    assert not found.deleted
    assert found.decision is Decision.APPLY
