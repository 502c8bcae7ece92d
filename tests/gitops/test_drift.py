"""`cxrecon drift`: only changes made in CXone since the last apply count, in every format."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.gitops.drift import ConnectorDrift, DriftedField, DriftReport, Unchecked, to_json
from reconciler.plan.diff import Origin
from reconciler.render.drift import applied_at, render_markdown
from reconciler.testing import RunningEmulator

from .helpers import API_KEY, PASSWORD, Run

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "schemas" / "drift.schema.json").read_text(encoding="utf-8")
)


def no_canaries(*texts: str) -> None:
    for text in texts:
        assert API_KEY not in text
        assert PASSWORD not in text


def test_freshly_applied_tenant_is_in_sync(applied: dict[str, str], run: Run) -> None:
    result = run("drift")
    assert result.exit_code == 0, result.output
    assert result.stdout == "No drift in local: 2 managed connector(s) match their last apply.\n"


def test_out_of_band_edit_exits_2_and_names_the_edit(
    applied: dict[str, str], run: Run, emulator: RunningEmulator
) -> None:
    emulator.control.edit(applied["Legacy-Tickets"], {"endpointUrl": "https://other.example/api"})
    result = run("drift")
    assert result.exit_code == 2, result.output
    assert "Drift in local: 1 connector(s) changed in CXone since the last apply" in result.stdout
    assert "~ Legacy-Tickets" in result.stdout
    assert (
        'endpointUrl: git "https://legacy.acme-crm.example/api" → CXone '
        '"https://other.example/api"  [drift]'
    ) in result.stdout
    assert "Support-Desk" not in result.stdout
    assert "`cxrecon apply -e local`" in result.stdout
    assert "`cxrecon drift -e local --write-back`" in result.stdout


def test_pending_git_change_alone_is_not_drift(
    applied: dict[str, str], run: Run, project: Path
) -> None:
    path = project / "connectors" / "legacy.yaml"
    path.write_text(path.read_text().replace("version: 2.0.0", "version: 2.1.0"))
    result = run("drift")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("No drift in local")
    assert "Changed in git, not applied yet (not drift; see `cxrecon plan`): Legacy-Tickets" in (
        result.stdout
    )
    assert run("plan", "--detailed-exitcode").exit_code == 2


def test_same_section_changed_on_both_sides_is_a_conflict(
    applied: dict[str, str], run: Run, emulator: RunningEmulator, project: Path
) -> None:
    emulator.control.edit(applied["Legacy-Tickets"], {"version": "9.9.9"})
    path = project / "connectors" / "legacy.yaml"
    path.write_text(path.read_text().replace("version: 2.0.0", "version: 2.1.0"))
    document = json.loads(run("drift", "--format", "json").stdout)
    [field] = document["connectors"][0]["fields"]
    assert field == {
        "path": "version",
        "kind": "changed",
        "origin": "conflict",
        "git": "2.1.0",
        "cxone": "9.9.9",
        "secret": False,
        "location": "connectors/legacy.yaml:20:10",
    }


def test_json_report_matches_its_schema_and_masks_credentials(
    applied: dict[str, str], run: Run, emulator: RunningEmulator
) -> None:
    emulator.control.edit(
        applied["Support-Desk"],
        {
            "labels": {"tier": "platinum"},
            "authentication": {"credentials": {"apiKey": "CANARY-oob-key", "headerName": None}},
        },
    )
    result = run("drift", "--format", "json")
    assert result.exit_code == 2, result.output
    document = json.loads(result.stdout)
    jsonschema.validate(document, SCHEMA)
    assert document["status"] == "drift"
    assert document["summary"]["drifted"] == 1
    fields = {f["path"]: f for f in document["connectors"][0]["fields"]}
    assert fields["labels[tier]"]["git"] == "gold"
    assert fields["labels[tier]"]["cxone"] == "platinum"
    # headerName is not secret (not writeOnly in the connector schema): shown in clear.
    removed = fields["authentication.credentials[headerName]"]
    assert removed["secret"] is False
    assert removed["git"] == "X-Api-Key"
    assert removed["cxone"] is None
    no_canaries(result.output)
    assert "CANARY-oob-key" not in result.output


def test_markdown_is_an_issue_body_with_values_and_both_resolutions(
    applied: dict[str, str], run: Run, emulator: RunningEmulator
) -> None:
    emulator.control.edit(
        applied["Support-Desk"],
        {"lifecycleStatus": "INACTIVE", "description": "Paused | by ops <b>"},
    )
    result = run("drift", "--format", "markdown")
    assert result.exit_code == 2, result.output
    body = result.stdout
    assert body.startswith("## cxrecon drift `local`\n")
    # apply stamps when it last wrote the connector; drift shows it as a UTC time
    assert re.search(
        r"\| <code>Support-Desk</code> \| 2 \| \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \|", body
    ), body
    assert (
        "| <code>lifecycleStatus</code> (connectors/support-desk.yaml:6:18) | "
        '<code>"ACTIVE"</code> | <code>"INACTIVE"</code> | drift |'
    ) in body
    assert '<code>"Paused \\| by ops &lt;b&gt;"</code>' in body
    assert "Revert CXone to git: `cxrecon apply -e local`" in body
    assert "`cxrecon drift -e local --write-back`" in body
    no_canaries(result.output)


def test_connector_put_in_error_by_cxone_is_reported_as_failing(
    applied: dict[str, str], run: Run, emulator: RunningEmulator
) -> None:
    emulator.control.edit(applied["Support-Desk"], {"lifecycleStatus": "ERROR"})
    result = run("drift")
    assert result.exit_code == 2
    assert 'lifecycleStatus: git "ACTIVE" → CXone "ERROR"' in result.stdout
    assert "(CXone set ERROR: the connector is failing" in result.stdout


def test_connectors_never_applied_are_not_checked(run: Run, project: Path) -> None:
    result = run("drift")
    assert result.exit_code == 0, result.output
    assert "No drift in local: 0 managed connector(s)" in result.stdout
    assert "absent from CXone" in result.stdout
    assert "Legacy-Tickets, Support-Desk" in result.stdout


def test_invalid_desired_state_is_an_error_without_traceback(run: Run, project: Path) -> None:
    (project / "connectors" / "legacy.yaml").write_text("name: [unclosed\n")
    result = run("drift")
    assert result.exit_code == 1
    assert "connectors/legacy.yaml:2:1" in result.output
    assert "Traceback" not in result.output


def test_unreachable_tenant_is_exit_1(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from reconciler.cli.main import cli

    env = {"CXONE_BASE_URL": "http://127.0.0.1:9/api/v2", "CXONE_CLIENT_ID": "x"}
    env["CXONE_CLIENT_SECRET"] = "y"
    result = CliRunner().invoke(cli, ["drift"], env=env)
    assert result.exit_code == 1
    assert result.output.startswith("error: ")


def test_write_back_refuses_other_formats(run: Run, project: Path) -> None:
    result = run("drift", "--write-back", "--format", "json")
    assert result.exit_code == 2  # click usage error
    assert "--write-back reports what it changed as text" in result.output


# --- report logic without a tenant ---------------------------------------------------


def _field(path: str, git: Any, cxone: Any, origin: Origin = Origin.DRIFT) -> DriftedField:
    return DriftedField(path, tuple(path.split(".")), git, cxone, origin, secret=False)


def test_drift_found_elsewhere_wins_over_an_unchecked_connector() -> None:
    drifted = ConnectorDrift("a", "c-1", "a.yaml", None, (_field("version", "1.0.0", "2.0.0"),))
    broken = Unchecked("b", "2 connectors named 'b' exist", error=True)
    assert DriftReport("prod", (drifted,), (broken,)).exit_code == 2
    assert DriftReport("prod", (), (broken,)).exit_code == 1
    assert DriftReport("prod", (), (Unchecked("c", "no digest", error=False),)).exit_code == 0


def test_unchecked_report_is_schema_valid_json() -> None:
    report = DriftReport("prod", (), (Unchecked("b", "duplicate", error=True),), checked=3)
    document = to_json(report)
    jsonschema.validate(document, SCHEMA)
    assert document["status"] == "error"


def test_markdown_stays_within_the_issue_budget() -> None:
    big = "x" * 5_000
    connectors = tuple(
        ConnectorDrift(
            f"conn-{i:03d}",
            f"c-{i}",
            f"connectors/conn-{i:03d}.yaml",
            "20261124T081722Z",
            tuple(_field(f"labels.k{j}", big, big + "y") for j in range(5)),
        )
        for i in range(60)
    )
    body = render_markdown(DriftReport("prod", connectors), budget=60_000)
    assert len(body) <= 60_000
    assert "Values are shortened" in body or "left out to fit" in body
    assert "| <code>conn-059</code> | 5 | 2026-11-24 08:17:22 UTC |" in body
    assert "### How to resolve" in body
    small = render_markdown(DriftReport("prod", connectors[:1]), budget=60_000)
    assert "shortened" not in small


def test_applied_at_reads_compact_label_values() -> None:
    assert applied_at("20261124T081722Z") == "2026-11-24 08:17:22 UTC"
    assert applied_at(None) == "not recorded"
    assert applied_at("yesterday") == "yesterday"


def test_drift_hints_keep_the_flags_the_run_was_made_with() -> None:
    from reconciler.gitops.drift import ConnectorDrift, DriftedField, DriftReport
    from reconciler.plan.diff import Origin
    from reconciler.render.drift import render

    field = DriftedField(
        path="description",
        parts=("description",),
        git="a",
        cxone="b",
        origin=Origin.DRIFT,
        secret=False,
    )
    connector = ConnectorDrift("Alpha", "c1", "connectors/alpha.yaml", None, (field,))
    report = DriftReport(environment="sandbox", connectors=(connector,))

    for output_format in ("text", "markdown"):
        shown = render(report, output_format, " --emulator")
        assert "cxrecon apply -e sandbox --emulator" in shown
        assert "cxrecon drift -e sandbox --emulator --write-back" in shown
