"""No secret leaks, end to end: every command against an emulator on a real port with canary
secrets, DEBUG logging on, and each failure path; then every byte the run left is scanned.

The canaries cover connector credentials (`${env:}`, `${file:}`, rotated, literal in YAML or in
`vars:`), CXONE_CLIENT_SECRET, CXONE_PASSWORD, a wrong client secret, GH_TOKEN and the access
tokens (the emulator's, found by their stored hashes, and a hostile server's fixed one).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import sqlite3
from pathlib import Path

import pytest

from .campaign import Campaign
from .canaries import CanarySet, base64_forms
from .scenario import run

#: Loggers of the pytest process, where the emulator the commands talk to runs.
IN_PROCESS_LOGGERS = ("reconciler", "uvicorn", "httpx", "httpcore")


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    root = tmp_path_factory.mktemp("leaks")
    handler = logging.FileHandler(root / "emulator-process.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    saved = {name: logging.getLogger(name).level for name in IN_PROCESS_LOGGERS}
    for name in IN_PROCESS_LOGGERS:
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        done = run(root)
    finally:
        for name, level in saved.items():
            logging.getLogger(name).removeHandler(handler)
            logging.getLogger(name).setLevel(level)
        handler.close()
    for db in (root / "emulator.sqlite", root / "embedded" / ".cxrecon" / "emulator.sqlite"):
        with sqlite3.connect(db) as conn:
            done.canaries.token_hashes |= {
                h for (h,) in conn.execute("SELECT token_hash FROM tokens")
            }
    return done


def files_left(campaign: Campaign) -> list[Path]:
    return sorted(
        path
        for path in campaign.root.rglob("*")
        if path.is_file() and path not in campaign.secret_sources
    )


def assert_clean(leaks: list[str]) -> None:
    assert not leaks, "secrets leaked:\n" + "\n".join(leaks)


# --- the scanner can fail ----------------------------------------------------------------


def test_the_scanner_finds_a_secret_in_every_form_it_looks_for() -> None:
    canaries = CanarySet()
    value = canaries.make("probe", '"\\ä')
    core = canaries.canaries["probe"].core
    token = "Tq3" * 14 + "x"
    canaries.token_hashes.add(hashlib.sha256(token.encode()).hexdigest())
    for where, text in {
        "plain": f"x {value} y",
        "json-escaped": '{"v": "' + core + '\\"\\\\\\u00e4"}',
        "basic": "Basic " + base64.b64encode(f"client:{value}".encode()).decode(),
        "base64 at offset 1": base64.b64encode(b"a" + value.encode()).decode(),
        "header": "Authorization: Bearer abcdefghijklmnop",
        "httpcore": "(b'Authorization', b'Bearer abcdefghijklmnop')",
        "token": f"tok={token};",
    }.items():
        assert canaries.scan(where, text), where
    assert not canaries.scan("clean", "Authorization: Bearer *** and CANARY-probe")
    assert all(len(form) >= 12 for form in base64_forms(core.encode()))


# --- the run really exercised the secrets ------------------------------------------------


def test_every_command_ended_as_expected(campaign: Campaign) -> None:
    assert not campaign.mismatches(), "\n\n".join(campaign.mismatches())
    assert len(campaign.captures) >= 50


def test_the_secrets_were_really_used_and_logged_at_debug(campaign: Campaign) -> None:
    log = campaign.debug_log.read_text(encoding="utf-8")
    assert "httpcore.http11 DEBUG send_request_headers" in log
    assert "httpx INFO HTTP Request: POST" in log
    assert "reconciler.cxone.auth DEBUG got an access token" in log
    # Credentials were resolved, written and fingerprinted; rotation was seen.
    rotated = next(c for c in campaign.captures if c.label == "plan rotated, password grant")
    assert "credentials: rotated" in rotated.stdout
    assert campaign.canaries.token_hashes, "no access token was issued"
    # The hostile server's quotes reached cxrecon and were masked, not dropped.
    refused = next(c for c in campaign.captures if "(reject-credentials)" in c.label)
    assert '"clientSecret":"***"' in refused.stdout
    assert "Authorization: Bearer ***" in next(
        c.stderr for c in campaign.captures if "(list-500)" in c.label
    )


# --- nothing leaked ------------------------------------------------------------------------


def test_no_secret_in_any_command_output(campaign: Campaign) -> None:
    assert_clean(
        campaign.canaries.scan_all(
            (f"{c.label} {stream}", text)
            for c in campaign.captures
            for stream, text in (("stdout", c.stdout), ("stderr", c.stderr))
        )
    )


def test_no_secret_from_the_controller_endpoints(campaign: Campaign) -> None:
    assert {"reconcile, served /metrics", "reconcile, served, writes refused /status"} <= set(
        campaign.scraped
    )
    assert (
        "cxrecon_reconcile_cycles_started_total" in campaign.scraped["reconcile, served /metrics"]
    )
    assert '"lastError"' in campaign.scraped["reconcile, served, writes refused /status"]
    assert_clean(campaign.canaries.scan_all(campaign.scraped.items()))


def test_no_secret_in_the_logging_output(campaign: Campaign) -> None:
    logs = [campaign.debug_log, campaign.root / "emulator-process.log"]
    assert all(path.stat().st_size > 0 for path in logs)
    assert_clean(campaign.canaries.scan_all((p.name, p.read_bytes()) for p in logs))


def test_no_secret_in_the_emulator_databases(campaign: Campaign) -> None:
    databases = [p for p in files_left(campaign) if ".sqlite" in p.name]
    assert {"emulator.sqlite", "served.sqlite"} <= {p.name for p in databases}
    assert_clean(campaign.canaries.scan_all((str(p), p.read_bytes()) for p in databases))


def test_no_secret_in_any_file_the_run_left(campaign: Campaign) -> None:
    """Plans (all formats, saved), audit logs, metrics, dumps (.env.example), written-back
    YAML, job summaries, step outputs, what the fake `gh` was asked to post, logs."""
    files = files_left(campaign)
    names = {p.name for p in files}
    expected = {"first.json", "apply.jsonl", "apply.prom", ".env.example", "step_summary.md"}
    assert expected | {"github_output", "calls.jsonl", "plan.md", "drift.md"} <= names
    assert_clean(
        campaign.canaries.scan_all(
            (str(p.relative_to(campaign.root)), p.read_bytes()) for p in files
        )
    )
