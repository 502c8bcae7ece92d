"""The status page's parts without a network: the state words, repository links, the audit log
reader, the charts, and pages rendered from hand-made reports (field values masked as in the
plan, files linked at the applied commit, sync windows, retries, deleted connectors)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.results import ConnectorResult, Outcome
from reconciler.config.windows import SyncWindow
from reconciler.controller.page import overview as overview_page
from reconciler.controller.page.audit_view import AuditReader, parse_entry
from reconciler.controller.page.charts import cycle_chart, nice_ceiling, sync_buckets, sync_chart
from reconciler.controller.page.cycles import CycleHistory, summarize
from reconciler.controller.page.repolink import web_of
from reconciler.controller.page.states import Tone, connector_state, lifecycle_words
from reconciler.controller.report import ConnectorReport, CycleResult, Decision
from reconciler.plan.changes import Action
from reconciler.plan.diff import ChangeKind, FieldChange, Origin
from reconciler.secret import MASK

from .helpers import CANARY
from .page_support import NOW, SHA, ReportWithFacts, cycle, make_page, record, write_log

# --- states ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "key", "tone"),
    [
        ({"action": "no-op", "decision": "in-sync"}, "in-sync", Tone.OK),
        ({"action": "update", "decision": "apply", "outcome": "applied"}, "applied", Tone.OK),
        ({"action": "update", "decision": "apply", "outcome": "failed"}, "failed", Tone.BAD),
        ({"action": "error", "decision": "error"}, "error", Tone.BAD),
        ({"action": "update", "origin": "drift", "decision": "report"}, "drift", Tone.WARN),
        ({"action": "update", "origin": "conflict", "decision": "report"}, "conflict", Tone.WARN),
        ({"action": "adopt", "origin": "unknown", "decision": "report"}, "unmanaged", Tone.INFO),
        ({"action": "orphan", "decision": "orphan"}, "orphan", Tone.WARN),
        ({"action": "update", "origin": "pending", "decision": "backoff"}, "backoff", Tone.BAD),
        ({"action": "update", "origin": "pending", "decision": "window"}, "pending", Tone.INFO),
        ({"action": "update", "origin": "pending", "decision": "unsafe"}, "pending", Tone.WARN),
        ({"action": "update", "origin": "pending", "decision": "dry-run"}, "pending", Tone.INFO),
        ({"action": "create", "decision": "window"}, "new", Tone.INFO),
        ({"action": "create", "decision": "apply", "deleted": True}, "deleted", Tone.WARN),
        ({"action": "update", "origin": "pending"}, "pending", Tone.INFO),  # a plan, no decision
        ({"action": "observe", "origin": "drift", "decision": "report"}, "observed", Tone.WARN),
        ({"action": "observe", "decision": "apply", "outcome": "unchanged"}, "observed", Tone.INFO),
        ({"action": "rename", "origin": "pending", "decision": "window"}, "pending", Tone.INFO),
        ({"action": "update", "origin": "pending", "decision": "later-x"}, "later-x", Tone.INFO),
    ],
)
def test_every_decision_has_words(kwargs: dict[str, Any], key: str, tone: Tone) -> None:
    state = connector_state(**kwargs)
    assert (state.key, state.tone) == (key, tone)
    assert state.label
    assert state.explain


def test_every_decision_of_the_controller_has_its_own_words() -> None:
    for decision in Decision:
        state = connector_state(action="update", origin="pending", decision=decision.value)
        assert not state.explain.startswith("The controller's decision"), decision


def test_lifecycle_words() -> None:
    assert lifecycle_words("INACTIVE") == "Switched off"
    assert lifecycle_words(None) == "—"
    assert lifecycle_words("PAUSED") == "Paused"


# --- repository links --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "base"),
    [
        ("https://github.com/acme/connectors.git", "https://github.com/acme/connectors"),
        (
            "https://x-access-token:ghs_SECRET@github.com/acme/connectors",
            "https://github.com/acme/connectors",
        ),
        ("git@github.com:acme/connectors.git", "https://github.com/acme/connectors"),
        ("ssh://git@github.com:22/acme/connectors.git", "https://github.com/acme/connectors"),
        ("https://gitlab.com/acme/cx/connectors.git", "https://gitlab.com/acme/cx/connectors"),
        ("git@gitlab.example.org:ops/connectors.git", "https://gitlab.example.org/ops/connectors"),
        ("https://github.example.com/acme/c?token=abc#x", "https://github.example.com/acme/c"),
    ],
)
def test_web_urls_of_github_and_gitlab_remotes(remote: str, base: str) -> None:
    web = web_of(remote)
    assert web is not None
    assert web.base == base
    assert "SECRET" not in web.base
    assert "token" not in web.base


@pytest.mark.parametrize(
    "remote",
    [
        "/srv/git/connectors.git",
        "file:///srv/git/connectors.git",
        "https://bitbucket.org/acme/connectors.git",
        "https://github.com/acme",
        "https://github.com/acme/connectors/extra",
        "git@github.com:acme/../etc.git",
        "https://github.com/acme/<b>.git",
    ],
)
def test_other_remotes_get_no_links(remote: str) -> None:
    assert web_of(remote) is None


def test_file_links_at_a_commit() -> None:
    github = web_of("git@github.com:acme/connectors.git")
    gitlab = web_of("https://gitlab.com/acme/connectors")
    assert github is not None
    assert gitlab is not None
    assert github.file_url(SHA, "connectors/a b.yaml") == (
        f"https://github.com/acme/connectors/blob/{SHA}/connectors/a%20b.yaml"
    )
    assert gitlab.file_url(SHA, "connectors/a.yaml") == (
        f"https://gitlab.com/acme/connectors/-/blob/{SHA}/connectors/a.yaml"
    )
    assert github.commit_url(SHA) == f"https://github.com/acme/connectors/commit/{SHA}"
    assert github.file_url("main; rm", "x.yaml") is None
    assert github.file_url(SHA, "../x.yaml") is None


# --- the audit log -----------------------------------------------------------------------


def test_the_audit_reader_keeps_the_environment_and_skips_junk(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_log(
        log,
        [
            record("A", "create", time=NOW - dt.timedelta(minutes=3)),
            record("A", "update", time=NOW - dt.timedelta(minutes=2), result="failure"),
            record("A", "update", environment="prod"),
            record("B", "sync", details={"status": "FAILED", "syncType": "FULL"}),
        ],
        junk=True,
    )
    reader = AuditReader(log)
    view = reader.view(None)
    assert [e.action for e in view.of("A")] == ["update", "create"]  # newest first
    assert view.last_write["A"].action == "create"  # the failed update does not count
    assert "A" in view.last_write
    assert "B" not in view.last_write
    assert [e.sync_status for e in view.syncs] == ["FAILED"]
    assert [e.action for e in reader.view("prod").of("A")] == ["update"]
    assert reader.view(None) is view  # unchanged file: not read again
    with log.open("a") as fh:
        fh.write(json.dumps(record("B", "create")) + "\n")
    assert "B" in reader.view(None).last_write


def test_the_audit_reader_reads_only_the_tail(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_log(log, [record(f"C{i}", "create") for i in range(200)])
    view = AuditReader(log, tail_bytes=4096).view(None)
    assert view.truncated
    assert 0 < len(view.last_write) < 20
    assert "C199" in view.last_write
    assert AuditReader(tmp_path / "missing.jsonl").view(None).problem is None


def test_audit_entries_need_a_time_a_connector_and_an_action() -> None:
    assert parse_entry({"time": "yesterday", "connector": "A", "action": "x"}) is None
    assert parse_entry({"time": NOW.isoformat(), "connector": 1, "action": "x"}) is None
    entry = parse_entry({"time": "2025-06-02T12:00:00", "connector": "A", "action": "sync"})
    assert entry is not None
    assert entry.time.tzinfo is not None


# --- charts ------------------------------------------------------------------------------


def test_nice_ceilings() -> None:
    assert [nice_ceiling(v) for v in (0, 0.3, 1, 1.2, 3, 7, 40, 260)] == [
        1,
        0.5,
        1,
        2,
        5,
        10,
        50,
        500,
    ]


def test_the_cycle_chart_marks_partial_and_failed_cycles() -> None:
    history = CycleHistory(keep=5)
    for n, result in enumerate(
        [CycleResult.SUCCESS, CycleResult.PARTIAL, CycleResult.FAILED, CycleResult.SUCCESS], 1
    ):
        history.add(
            cycle(n, result, n * 1.5, error="boom" if result is CycleResult.FAILED else None)
        )
    history.add(cycle(4, CycleResult.SUCCESS, 9))  # the same cycle again: kept once
    chart = cycle_chart(list(history), 6)
    assert [b.kind for b in chart.bars] == ["success", "partial", "failed", "success"]
    assert [m.kind for m in chart.markers] == ["dot", "cross"]
    assert chart.y_ticks[-1].label == "10s"
    assert all(b.y + b.height <= chart.bottom + 0.01 for b in chart.bars)
    assert "4 cycles: 2 succeeded, 1 partial, 1 failed" in chart.summary
    for n in range(5, 9):
        history.add(cycle(n, CycleResult.SUCCESS, 1))
    assert [s.number for s in history] == [4, 5, 6, 7, 8]  # bounded


def test_the_sync_chart_counts_outcomes_per_hour(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_log(
        log,
        [
            record(
                "A", "sync", time=NOW - dt.timedelta(minutes=10), details={"status": "COMPLETED"}
            ),
            record(
                "A", "sync", time=NOW - dt.timedelta(minutes=70), details={"status": "COMPLETED"}
            ),
            record(
                "B",
                "sync",
                time=NOW - dt.timedelta(minutes=5),
                result="failure",
                details={"status": "FAILED"},
            ),
            record("B", "sync", time=NOW - dt.timedelta(hours=9), details={"status": "COMPLETED"}),
        ],
    )
    syncs = AuditReader(log).view(None).syncs
    buckets = sync_buckets(syncs, NOW + dt.timedelta(minutes=30), 6)
    assert len(buckets) == 6
    assert [(b.completed, b.failed) for b in buckets[-3:]] == [(1, 0), (1, 1), (0, 0)]
    chart = sync_chart(buckets, 6)
    assert [b.kind for b in chart.bars] == ["completed", "completed", "failed"]
    assert chart.summary.startswith("3 data syncs: 2 completed, 1 failed")
    assert sync_chart(sync_buckets((), NOW, 6), 6).empty


# --- pages from hand-made reports --------------------------------------------------------


def test_the_detail_page_shows_the_plan_lines_with_secrets_masked(tmp_path: Path) -> None:
    write_log(tmp_path / "audit.jsonl", [record("Sales", "update", environment="production")])
    changes = (
        FieldChange(
            "description",
            ("description",),
            ChangeKind.CHANGED,
            "from the UI",
            "<b>git</b>",
            origin=Origin.DRIFT,
        ),
        FieldChange(
            "authentication.credentials[apiKey]",
            ("authentication", "credentials", "apiKey"),
            ChangeKind.CHANGED,
            "old-key-value",
            CANARY,
            secret=True,
            origin=Origin.DRIFT,
        ),
        FieldChange(
            "syncSettings.batchSize", ("syncSettings", "batchSize"), ChangeKind.ADDED, None, 500
        ),
    )
    report = ReportWithFacts(
        name="Sales",
        action=Action.UPDATE,
        origin=Origin.DRIFT,
        decision=Decision.REPORT,
        reason="changed in CXone since the last apply (drift); --self-heal reverts it",
        fields=tuple(c.path for c in changes),
        changes=changes,
        lifecycle="INACTIVE",
        applied_at="20250602T115500Z",
        source=str(tmp_path / "connectors" / "sales.yaml"),
        description="Contact sync & <i>more</i>",
    )
    page = make_page(tmp_path, (report,))
    html = page.detail_html("Sales")
    assert html is not None
    text = html.decode()
    assert CANARY not in text
    assert "old-key-value" not in text
    assert f"<code>&#34;{MASK}&#34;</code>" in text
    assert "<code>&#34;&lt;b&gt;git&lt;/b&gt;&#34;</code>" in text
    assert "<code>(absent)</code>" in text
    assert "changed in CXone" in text
    assert "Switched off" in text
    assert "Contact sync &amp; &lt;i&gt;more&lt;/i&gt;" in text
    # The file, linked at the commit that last applied it (from the audit log).
    assert f'href="https://github.com/acme/connectors/blob/{SHA}/connectors/sales.yaml"' in text
    assert f'href="https://github.com/acme/connectors/commit/{SHA}"' in text
    overview = page.overview_html().decode()
    assert "connectors/sales.yaml" in overview
    assert 'data-state="drift"' in overview
    assert "API unreachable" in overview  # cycle 2's error, in the cycle table
    assert CANARY not in overview


def test_windows_retries_and_deleted_connectors(tmp_path: Path) -> None:
    write_log(
        tmp_path / "audit.jsonl",
        [
            record("Gone", "create", time=NOW - dt.timedelta(days=2), environment="production"),
            record(
                "Gone",
                "sync",
                environment="production",
                details={
                    "status": "COMPLETED",
                    "syncType": "INCREMENTAL",
                    "recordsProcessed": 1234,
                },
            ),
        ],
    )
    gone = ConnectorReport(
        "Gone", Action.CREATE, None, Decision.WINDOW, reason="deny window", deleted=True
    )
    failing = ConnectorReport(
        "Broken",
        Action.UPDATE,
        Origin.PENDING,
        Decision.BACKOFF,
        reason="failed 2 time(s) in a row",
        fields=("endpointUrl",),
    )
    fine = ConnectorReport(
        "Fine",
        Action.UPDATE,
        Origin.PENDING,
        Decision.APPLY,
        result=ConnectorResult("Fine", Action.UPDATE, Outcome.APPLIED, lifecycle="ACTIVE"),
    )
    page = make_page(tmp_path, (fine, gone, failing))
    page.source.backoff.failed("Broken", "HTTP 500 from CXone")
    page.project = dataclasses.replace(
        page.project,
        windows=(
            SyncWindow("deny", "0 8 * * *", dt.timedelta(hours=10), description="business hours"),
            SyncWindow("allow", "0 22 * * *", dt.timedelta(hours=2), environments=("staging",)),
        ),
    )
    overview = page.overview_html().decode()
    assert 'data-state="deleted"' in overview
    assert 'data-state="backoff"' in overview
    assert 'data-state="applied"' in overview
    assert overview.index("Broken") < overview.index("Gone") < overview.index("Fine")
    assert "business hours" in overview
    assert "Active: changes blocked" in overview
    assert "closes" in overview
    assert "staging" not in overview  # a window of another environment
    assert "HTTP 500 from CXone" in overview
    detail = page.detail_html("Gone")
    assert detail is not None
    text = detail.decode()
    assert "Deleted in CXone" in text
    assert "Changes blocked now" in text
    assert "1,234" in text
    assert "Completed" in text
    assert page.detail_html("Nobody") is None
    assert b"No connector named" in page.not_found_html("Nobody")


def test_summaries_and_query_options(tmp_path: Path) -> None:
    page = make_page(tmp_path, ())
    assert summarize(cycle(7, CycleResult.SUCCESS, 1.0)).number == 7
    html = page.overview_html({"refresh": ["5"]}).decode()
    assert '<meta http-equiv="refresh" content="10">' in html
    assert "No connector is declared" in html
    assert "refresh" not in page.overview_html({"refresh": ["x"]}).decode().split("<title>")[0]
    assert asyncio.run(page.respond("/static/favicon.svg")) is not None
    assert asyncio.run(page.respond("/static/nothing.css")) is None
    assert asyncio.run(page.respond("/nowhere")) is None
    found = asyncio.run(page.respond("/connectors/%ZZ"))
    assert found is not None
    assert found[0] == 404


def test_the_page_never_raises_into_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    page = make_page(tmp_path, ())

    def broken(_params: Mapping[str, list[str]] | None = None, _snapshot: object = None) -> bytes:
        raise RuntimeError("template bug")

    monkeypatch.setattr(page, "overview_html", broken)
    answer = asyncio.run(page.respond("/"))
    assert answer is not None
    assert answer[0] == 500
    assert "template bug" in caplog.text


def test_a_long_overview_lists_the_most_urgent_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fine = [ConnectorReport(f"Fine-{i}", Action.NOOP, None, Decision.IN_SYNC) for i in range(5)]
    drifted = ConnectorReport("Zeta", Action.UPDATE, Origin.DRIFT, Decision.REPORT)
    page = make_page(tmp_path, (*fine, drifted))
    monkeypatch.setattr(overview_page, "ROWS", 3)
    html = page.overview_html().decode()
    assert html.count('<th scope="row"><a href="connectors/') == 3
    assert html.index("Zeta") < html.index("Fine-0")
    assert "3 more connectors, all less urgent than those above, not listed" in html
    assert '<a href="?show=all">list every connector</a>' in html
    every = page.overview_html({"show": ["all"]}).decode()
    assert every.count('<th scope="row"><a href="connectors/') == 6
    assert "not listed" not in every
