"""The controller and `policies:` (issue 26): a connector breaking an `error` policy is held
(decision `policy`, never written) while the others are applied; violations are on /status,
on the status page and in `cxrecon_policy_violations{policy,severity}`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.celpolicy.evaluate import Violation
from reconciler.controller.report import ConnectorReport, CycleResult, Decision
from reconciler.model import SourceLocation
from reconciler.plan.changes import Action
from reconciler.plan.diff import Origin
from reconciler.testing import RunningEmulator

from .helpers import CANARY, ConnectorsRepo, ControllerFactory, connector_yaml, remote_connectors
from .page_support import FakeSource, cycle, make_page
from .test_page_a11y import check

pytestmark = pytest.mark.anyio

PROJECT = """\
connectors: connectors/
policies:
  - name: crm-hosts
    rule: connector.endpointUrl.startsWith("https://crm.example/alpha")
    message: only the company's CRM hosts
  - name: owning-team
    severity: warning
    rule: has(connector.labels.team)
"""


def metric_lines(body: str) -> list[str]:
    return sorted(line for line in body.splitlines() if line.startswith("cxrecon_policy_"))


async def test_a_connector_breaking_an_error_policy_is_held_and_reported(
    make_controller: ControllerFactory, repo: ConnectorsRepo, emulator: RunningEmulator
) -> None:
    repo.commit({"cxrecon.yaml": PROJECT, "connectors/beta.yaml": connector_yaml("Beta")})
    controller = make_controller()

    report = await controller.cycle()

    decisions = {c.name: c.decision for c in report.connectors}
    assert decisions == {"Alpha": Decision.APPLY, "Beta": Decision.POLICY}
    beta = next(c for c in report.connectors if c.name == "Beta")
    assert "policy 'crm-hosts': only the company's CRM hosts" in (beta.reason or "")
    assert set(remote_connectors(emulator)) == {"Alpha"}
    assert metric_lines(controller.metrics()[0].decode()) == [
        'cxrecon_policy_violations{policy="crm-hosts",severity="error"} 1.0',
        'cxrecon_policy_violations{policy="owning-team",severity="warning"} 2.0',
    ]
    status = json.loads(controller.status_json())
    found = {(v["policy"], v["connector"]) for v in status["lastCycle"]["policyViolations"]}
    assert found == {("crm-hosts", "Beta"), ("owning-team", "Alpha"), ("owning-team", "Beta")}
    assert CANARY.encode() not in controller.status_json()

    # Fixed in git: the next cycle applies it and the series are gone.
    repo.commit({"cxrecon.yaml": "connectors: connectors/\n"})
    again = await controller.cycle()
    assert {c.name: c.decision for c in again.connectors}["Beta"] is Decision.APPLY
    assert metric_lines(controller.metrics()[0].decode()) == []


def test_the_status_page_lists_violations(tmp_path: Path) -> None:
    page = make_page(tmp_path, ())
    violation = Violation(
        "crm-hosts", "error", "Beta", None, "only <the> CRM hosts", SourceLocation("b.yaml", 1, 1)
    )
    source: FakeSource = page.source  # type: ignore[assignment]
    held = ConnectorReport(
        "Beta", Action.CREATE, Origin.PENDING, Decision.POLICY, reason="breaks policy 'crm-hosts'"
    )
    source.last = cycle(4, CycleResult.PARTIAL, 1.0, connectors=(held,), violations=(violation,))

    html = page.overview_html().decode()

    assert "Policy violations" in html
    assert 'href="connectors/Beta"' in html
    assert "only &lt;the&gt; CRM hosts" in html
    assert "Held by a policy" in html
    check(html)  # headings in order, table headers with scope, named regions
