"""`cxrecon validate` over several environments names the environment of each violation in
its text lines (the same connector breaks a rule in one environment and not the other, or in
both: two lines that must not read as a duplicate), and checks each environment once."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli.main import cli

PROJECT = """\
project: demo
connectors: connectors/
environments:
  staging: {}
  production: {}
policies:
  - name: owning-team
    severity: warning
    rule: has(connector.labels.team)
    message: set labels.team
  - name: crm-hosts
    environments: [production]
    rule: connector.endpointUrl.startsWith("https://crm.example.com/")
    message: production talks to crm.example.com only
"""
CONNECTOR = """\
name: Beta
lifecycleStatus: ACTIVE
connectorType: CUSTOM
endpointUrl: https://other.example.net/api
authentication:
  type: API_KEY
  credentials:
    apiKey: ${env:BETA_KEY}
mappings:
  - cxoneField: contact.external_id
    crmField: id
    direction: INBOUND
"""


def test_each_violation_line_names_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cxrecon.yaml").write_text(PROJECT)
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "beta.yaml").write_text(CONNECTOR)
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(cli, ["validate"], env={"NO_COLOR": "1"})

    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if "policy '" in line]
    assert lines == [
        "connectors/beta.yaml:1:1: warning: policy 'owning-team' in staging: Beta: set labels.team",
        "connectors/beta.yaml:1:1: warning: policy 'owning-team' in production: Beta: set "
        "labels.team",
        "connectors/beta.yaml:1:1: error: policy 'crm-hosts' in production: Beta: production "
        "talks to crm.example.com only",
    ]  # the default environment (the first) is checked once, not again among the others
    assert "policies: 1 error(s), 2 warning(s)" in result.output
