"""Prometheus's own checker on the controller's /metrics: `promtool check metrics` (Debian's
`prometheus` package; skipped without it) finds nothing to say about the exposition of a
cycle that has every family this round added: policy violations and notifications."""

from __future__ import annotations

import shutil

import anyio
import pytest

from .helpers import ConnectorsRepo, ControllerFactory, connector_yaml

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        shutil.which("promtool") is None, reason="no promtool: apt-get install prometheus"
    ),
]

PROJECT = """\
project: controller-tests
connectors: connectors/
policies:
  - name: crm-hosts
    rule: connector.endpointUrl.startsWith("https://crm.example/alpha")
    message: only the company's CRM hosts
  - name: owning-team
    severity: warning
    rule: has(connector.labels.team)
notifications:
  # Nothing listens on port 9 here: each message is counted as failed.
  - name: dead-end
    url: json://127.0.0.1:9/hook
    events: [applied, policy-violation, drift]
"""


async def test_promtool_finds_the_metrics_of_a_cycle_clean(
    make_controller: ControllerFactory, repo: ConnectorsRepo
) -> None:
    pytest.importorskip("apprise")
    repo.commit({"cxrecon.yaml": PROJECT, "connectors/beta.yaml": connector_yaml("Beta")})
    controller = make_controller()
    await controller.cycle()

    body = controller.metrics()[0]
    text = body.decode()
    assert 'cxrecon_policy_violations{policy="crm-hosts",severity="error"} 1.0' in text
    assert 'cxrecon_notifications_total{event="policy-violation",result="failed"}' in text
    done = await anyio.run_process(["promtool", "check", "metrics"], input=body, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b""), done.stderr.decode()
