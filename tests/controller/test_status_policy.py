"""`cxrecon status` names the policies the connectors break: from the controller's /status
(`policyViolations` of its last cycle) and from the one-shot plan, errors first."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import status as status_cli
from reconciler.cli.main import cli
from reconciler.testing import RunningEmulator

from .helpers import connector_yaml
from .test_page_cli import controller_body


def violation(policy: str, severity: str, connector: str, message: str) -> dict[str, object]:
    return {
        "policy": policy,
        "severity": severity,
        "connector": connector,
        "environment": "production",
        "message": message,
        "location": f"connectors/{connector.lower()}.yaml:1:1",
    }


def test_the_controllers_violations_are_listed_errors_first_and_cleaned() -> None:
    body = controller_body(
        policyViolations=[
            violation("owning-team", "warning", "Beta", "set labels.team"),
            violation("crm-hosts", "error", "Evil\x1b[2J", "only crm.example\n::error::x"),
        ]
    )
    runner = CliRunner()
    with runner.isolation() as (out, _err, _):
        code = status_cli._print_controller(body, "http://127.0.0.1:9108", None)
    lines = out.getvalue().decode().splitlines()
    at = lines.index("Policy: 1 error(s), 1 warning(s) (the controller will not write those):")
    assert lines[at + 1] == (
        "  - error: policy 'crm-hosts': Evil\\x1b[2J (connectors/evil\\x1b[2j.yaml:1:1): "
        "only crm.example\\n::error::x"
    )
    assert lines[at + 2] == (
        "  - warning: policy 'owning-team': Beta (connectors/beta.yaml:1:1): set labels.team"
    )
    assert code == 2  # an error policy holds a connector: something to look at


def test_a_warning_alone_leaves_the_exit_code_in_sync() -> None:
    body = controller_body(policyViolations=[violation("owning-team", "warning", "Beta", "x")])
    runner = CliRunner()
    with runner.isolation() as (out, _err, _):
        assert status_cli._print_controller(body, "http://127.0.0.1:9108", None) == 0
    assert "Policy: 0 error(s), 1 warning(s):" in out.getvalue().decode()


def test_the_one_shot_plan_lists_the_violations_too(
    emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "alpha.yaml").write_text(connector_yaml("Alpha"))
    (tmp_path / "cxrecon.yaml").write_text(
        "connectors: connectors/\npolicies:\n  - name: owning-team\n    severity: warning\n"
        "    rule: has(connector.labels.team)\n    message: set labels.team\n"
    )
    monkeypatch.chdir(tmp_path)
    env = {
        "CXONE_BASE_URL": emulator.base_url,
        "CXONE_CLIENT_ID": "demo-client",
        "CXONE_CLIENT_SECRET": "demo-secret",
    }
    result = CliRunner().invoke(cli, ["status", "--plan"], env=env)
    assert result.exit_code == 2, result.output
    assert "Policy: 0 error(s), 1 warning(s):" in result.stdout
    assert "  - warning: policy 'owning-team': Alpha (connectors/alpha.yaml:1:1): set labels" in (
        result.stdout
    )
