"""Every project file in tests/fixtures/bad-project makes `cxrecon validate` fail exactly where
its `# expect:` lines say (the header format of tests/fixtures/bad), before any connector is
read; sync windows the controller would refuse are caught here, not on the first cycle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli.main import cli
from reconciler.config.project import load_project
from reconciler.errors import ConfigError

from .inputs import FIXTURES, expectations

CASES = sorted((FIXTURES / "bad-project").glob("*.yaml"))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    return tmp_path


def test_the_project_corpus_covers_cron_time_zone_and_duration() -> None:
    rules = {e[3] for case in CASES for e in expectations(case)}
    text = " ".join(e[4] for case in CASES for e in expectations(case))
    assert rules == {"sync-window", "schema", "notifications", "policy"}
    for topic in ("schedule", "timeZone", "duration"):
        assert topic in text


@pytest.mark.parametrize("fixture", CASES, ids=[f.stem for f in CASES])
def test_bad_project_file_is_reported_at_the_expected_location(
    fixture: Path, workdir: Path
) -> None:
    shutil.copyfile(fixture, workdir / "cxrecon.yaml")
    result = CliRunner().invoke(cli, ["validate", "--format", "json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["valid"] is False
    got = sorted(
        (d["line"], d["col"], d["severity"], d["rule"], d["message"]) for d in report["diagnostics"]
    )
    assert all(d["path"] == "cxrecon.yaml" for d in report["diagnostics"])
    expected = sorted(expectations(fixture))
    assert [g[:4] for g in got] == [e[:4] for e in expected], got
    for (*_, message), (*_, fragment) in zip(got, expected, strict=True):
        assert fragment in message


@pytest.mark.parametrize("fixture", CASES, ids=[f.stem for f in CASES])
def test_text_output_names_the_project_file_spot_and_rule(fixture: Path, workdir: Path) -> None:
    shutil.copyfile(fixture, workdir / "cxrecon.yaml")
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    for line, col, severity, rule, _ in expectations(fixture):
        assert any(
            x.startswith(f"cxrecon.yaml:{line}:{col}: {severity}: ") and x.endswith(f"[{rule}]")
            for x in lines
        ), result.stdout
    assert lines[-1] == "the project file cxrecon.yaml is invalid"
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "fixture",
    [c for c in CASES if {e[3] for e in expectations(c)} == {"sync-window"}],
    ids=lambda f: f.stem,
)
def test_validate_reports_what_the_controller_would_refuse(fixture: Path, workdir: Path) -> None:
    shutil.copyfile(fixture, workdir / "cxrecon.yaml")
    with pytest.raises(ConfigError) as refused:
        load_project(workdir)
    report = json.loads(CliRunner().invoke(cli, ["validate", "--format", "json"]).stdout)
    assert [
        (d.location.line, d.location.col, d.message)
        for d in refused.value.diagnostics
        if d.location
    ] == [(d["line"], d["col"], d["message"]) for d in report["diagnostics"]]
