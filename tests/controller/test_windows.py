"""Sync windows (cron + duration + time zone, deny wins) and durations."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from reconciler.config.durations import format_duration, parse_duration
from reconciler.config.project import load_project
from reconciler.config.windows import SyncWindow, evaluate
from reconciler.errors import ConfigError

UTC = dt.UTC


def window(kind: str, schedule: str, hours: float, **extra: object) -> SyncWindow:
    return SyncWindow(
        kind="allow" if kind == "allow" else "deny",
        schedule=schedule,
        duration=dt.timedelta(hours=hours),
        **extra,  # type: ignore[arg-type]
    )


def at(hour: int, minute: int = 0, day: int = 2) -> dt.datetime:
    return dt.datetime(2025, 6, day, hour, minute, tzinfo=UTC)  # 2025-06-02 is a Monday


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("2d", 172800), ("250ms", 0.25)],
)
def test_durations_parse_go_style(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5x", "m5", "1h 30m", "-5m"])
def test_bad_durations_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ConfigError, match=r"e\.g\. 30s, 5m"):
        parse_duration(text, what="--interval")


def test_durations_format_back_shortly() -> None:
    assert [format_duration(s) for s in (0.25, 59, 300, 5400, 90061)] == [
        "250ms",
        "59s",
        "5m",
        "1h30m",
        "1d1h1m1s",
    ]


def test_no_window_means_writes_are_allowed() -> None:
    assert evaluate([], at(12), None, "Any").allowed


def test_a_deny_window_blocks_only_while_open_and_its_end_is_exclusive() -> None:
    deny = [window("deny", "0 12 * * *", 2)]
    assert not evaluate(deny, at(12), None, "X").allowed
    assert not evaluate(deny, at(13, 59), None, "X").allowed
    assert evaluate(deny, at(14), None, "X").allowed
    assert evaluate(deny, at(11, 59), None, "X").allowed


def test_deny_wins_over_an_open_allow_window() -> None:
    windows = [window("allow", "0 0 * * *", 24), window("deny", "0 12 * * *", 1)]
    verdict = evaluate(windows, at(12, 30), None, "X")
    assert not verdict.allowed
    assert verdict.reason.startswith("deny window")
    assert verdict.until == at(13)


def test_outside_every_allow_window_reports_when_the_next_opens() -> None:
    windows = [window("allow", "0 22 * * 1-5", 8, description="weeknights")]
    verdict = evaluate(windows, at(12), None, "X")
    assert not verdict.allowed
    assert "weeknights" in verdict.reason
    assert verdict.until == at(22)
    assert evaluate(windows, at(3, day=3), None, "X").allowed  # Tuesday 03:00, opened Monday 22:00


def test_a_window_overnight_spans_midnight() -> None:
    windows = [window("allow", "0 22 * * *", 8)]
    assert evaluate(windows, at(5, 59, day=3), None, "X").allowed
    assert not evaluate(windows, at(6, 0, day=3), None, "X").allowed


def test_time_zone_and_daylight_saving_are_honoured() -> None:
    # 02:00 Berlin is 00:00 UTC in summer (CEST) and 01:00 UTC in winter (CET).
    deny = [window("deny", "0 2 * * *", 1, timezone="Europe/Berlin")]
    summer = dt.datetime(2025, 7, 1, 0, 30, tzinfo=UTC)
    winter = dt.datetime(2025, 1, 15, 0, 30, tzinfo=UTC)
    assert not evaluate(deny, summer, None, "X").allowed
    assert evaluate(deny, winter, None, "X").allowed
    assert not evaluate(deny, winter + dt.timedelta(hours=1), None, "X").allowed


def test_selectors_limit_a_window_to_environments_and_connector_globs() -> None:
    deny = [window("deny", "* * * * *", 1, environments=("production",), connectors=("Sales*",))]
    assert not evaluate(deny, at(9), "production", "Salesforce-Contacts").allowed
    assert evaluate(deny, at(9), "production", "Zendesk").allowed
    assert evaluate(deny, at(9), "sandbox", "Salesforce-Contacts").allowed
    assert evaluate(deny, at(9), None, "Salesforce-Contacts").allowed


def test_macros_like_daily_are_accepted() -> None:
    assert not evaluate([window("deny", "@daily", 1)], at(0, 30), None, "X").allowed


def write_project(tmp_path: Path, text: str) -> Path:
    (tmp_path / "cxrecon.yaml").write_text(text)
    return tmp_path


def test_sync_windows_load_from_the_project_file(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        "connectors: connectors/\n"
        "syncWindows:\n"
        "  - kind: deny\n"
        "    schedule: '0 22 * * 5'\n"
        "    duration: 2d\n"
        "    timeZone: America/New_York\n"
        "    environments: [production]\n"
        "    description: weekend freeze\n",
    )
    (loaded,) = load_project(root).sync_windows
    assert loaded.kind == "deny"
    assert loaded.duration == dt.timedelta(days=2)
    assert loaded.timezone == "America/New_York"
    assert loaded.environments == ("production",)
    assert loaded.location is not None
    assert loaded.location.line == 3


def test_a_project_without_windows_has_none(tmp_path: Path) -> None:
    assert load_project(write_project(tmp_path, "connectors: connectors/\n")).sync_windows == ()
    assert load_project(tmp_path / "missing").sync_windows == ()


@pytest.mark.parametrize(
    ("entry", "message", "line_col"),
    [
        ("{kind: allow, schedule: '61 * * * *', duration: 1h}", "minute '61' is out", "2:29"),
        ("{kind: allow, schedule: '0 0 * * * *', duration: 1h}", "five fields", "2:29"),
        ("{kind: deny, schedule: '@daily', duration: 1h, timeZone: Mars/Base}", "IANA", "2:62"),
        ("{kind: deny, schedule: '@daily', duration: 0s}", "longer than zero", "2:48"),
    ],
)
def test_bad_windows_point_at_the_spot(
    tmp_path: Path, entry: str, message: str, line_col: str
) -> None:
    root = write_project(tmp_path, f"syncWindows:\n  - {entry}\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_project(root)
    assert f"cxrecon.yaml:{line_col}" in str(info.value)


def test_the_project_schema_rejects_an_unknown_window_key(tmp_path: Path) -> None:
    root = write_project(
        tmp_path, "syncWindows:\n  - {kind: deny, schedule: '@daily', duration: 1h, when: now}\n"
    )
    with pytest.raises(ConfigError, match="when"):
        load_project(root)
