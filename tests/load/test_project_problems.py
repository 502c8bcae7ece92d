"""Every problem of cxrecon.yaml in one run: schema errors, cron schedules, time zones and
durations of syncWindows together, each at its own line:col, each saying which field is
wrong and what is accepted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli.main import cli
from reconciler.config.project import load_project
from reconciler.errors import ConfigError

MIXED = """\
connectors: connectors/
safety:
  maxChangeFraction: 1.5
syncWindows:
  - kind: allow
    schedule: "0 8 * * 1-8"
    duration: 8h
  - kind: deny
    schedule: "@daily"
    duration: 1h
    timeZone: Europe/Berln
  - kind: allow
    schedule: "0 22 * * 1-5"
    duration: 0m
  - kind: allwo
    schedule: "61 * * * *"
    duration: 1h
"""


def _problems(tmp_path: Path, text: str) -> list[tuple[int, int, str, str]]:
    (tmp_path / "cxrecon.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_project(tmp_path)
    return [
        (d.location.line, d.location.col, d.rule, d.message)
        for d in raised.value.diagnostics
        if d.location is not None
    ]


def test_schema_and_window_problems_are_reported_together_each_at_its_spot(
    tmp_path: Path,
) -> None:
    found = _problems(tmp_path, MIXED)
    assert [(line, col, rule) for line, col, rule, _ in found] == [
        (3, 22, "schema"),
        (6, 15, "sync-window"),
        (11, 15, "sync-window"),
        (14, 15, "sync-window"),
        (15, 11, "schema"),
        (16, 15, "sync-window"),
    ]
    messages = [message for *_, message in found]
    assert "at most 1" in messages[0]
    assert "day-of-week" in messages[1]
    assert "0-7" in messages[1]
    assert "did you mean 'Europe/Berlin'" in messages[2]
    assert "longer than zero" in messages[3]
    assert "did you mean 'allow'" in messages[4]
    assert "minute" in messages[5]
    assert "0-59" in messages[5]


def test_validate_shows_every_problem_of_the_project_file_in_one_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cxrecon.yaml").write_text(MIXED, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    result = CliRunner().invoke(cli, ["validate", "--format", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [(d["line"], d["rule"]) for d in report["diagnostics"]] == [
        (3, "schema"),
        (6, "sync-window"),
        (11, "sync-window"),
        (14, "sync-window"),
        (15, "schema"),
        (16, "sync-window"),
    ]


@pytest.mark.parametrize(
    ("schedule", "fragments"),
    [
        ("0 8 * * 1-8", ["day-of-week '1-8' is out of range", "0-7", "SUN-SAT"]),
        ("61 * * * *", ["minute '61' is out of range", "0-59"]),
        ("0 24 * * *", ["hour '24' is out of range", "0-23"]),
        ("0 8 0 * *", ["day-of-month '0' is out of range", "1-31"]),
        ("0 8 * 13 *", ["month '13' is out of range", "1-12", "JAN-DEC"]),
        ("0 8 * * FRY", ["day-of-week 'FRY'", "SUN-SAT"]),
        ("*/0 * * * *", ["minute '*/0'", "step", "at least 1"]),
        ("0 8 * * 1,,3", ["day-of-week '1,,3'", "empty"]),
        ("? 8 * * *", ["minute '?'", "day-of-month and day-of-week"]),
        ("0 0 22 * * 1-5", ["has 6 fields", "write five fields"]),
        ("0 22 * *", ["has 4 fields", "write five fields"]),
        ("@reboot", ["@reboot", "@daily"]),
        ("0 8 31 2 *", ["never opens", "day-of-month '31'", "month '2'"]),
    ],
)
def test_a_bad_schedule_names_the_field_and_what_it_takes(
    tmp_path: Path, schedule: str, fragments: list[str]
) -> None:
    text = f"syncWindows:\n  - kind: deny\n    duration: 1h\n    schedule: '{schedule}'\n"
    [(line, col, rule, message)] = _problems(tmp_path, text)
    assert (line, col, rule) == (4, 15, "sync-window")
    assert message.startswith(f"schedule '{schedule}'")
    for fragment in fragments:
        assert fragment in message, message
    assert "not five fields" not in message


def test_two_bad_fields_of_one_schedule_are_both_named(tmp_path: Path) -> None:
    text = "syncWindows:\n  - {kind: deny, duration: 1h, schedule: '60 24 * * *'}\n"
    found = _problems(tmp_path, text)
    assert len(found) == 2
    assert "minute '60'" in found[0][3]
    assert "hour '24'" in found[1][3]


def test_a_missing_key_is_reported_once_and_the_other_keys_are_still_checked(
    tmp_path: Path,
) -> None:
    text = "syncWindows:\n  - kind: deny\n    schedule: '0 25 * * *'\n    timeZone: Mars/Base\n"
    found = _problems(tmp_path, text)
    assert [(line, rule) for line, _, rule, _ in found] == [
        (2, "schema"),
        (3, "sync-window"),
        (4, "sync-window"),
    ]
    assert "missing required key 'duration'" in found[0][3]


def test_a_bad_list_item_is_reported_once_at_the_item(tmp_path: Path) -> None:
    text = "syncWindows:\n  - kind: deny\n    schedule: '@daily'\n    duration: 1h\n"
    text += "    environments: [production, 7]\n"
    found = _problems(tmp_path, text)
    assert [(line, col) for line, col, _, _ in found] == [(5, 32)]


def test_good_windows_still_load(tmp_path: Path) -> None:
    (tmp_path / "cxrecon.yaml").write_text(
        "syncWindows:\n"
        "  - {kind: deny, schedule: '0 8 * * MON-FRI', duration: 1h, timeZone: Europe/Berlin}\n"
        "  - {kind: allow, schedule: '*/15 0-6 1,15 JAN-DEC 0-7', duration: 10m}\n"
        "  - {kind: allow, schedule: '0 8 29 2 *', duration: 1d}\n",
        encoding="utf-8",
    )
    assert len(load_project(tmp_path).sync_windows) == 3
