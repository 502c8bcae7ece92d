"""`plan`, `drift` and `validate` warm (the cache filled, nothing changed) print exactly what
they print cold or with --no-cache, against the emulator on a real port; the run summary
counts the cache's hits and misses; the canary secrets the runs resolve never reach it."""

from __future__ import annotations

import json
from pathlib import Path

from .helpers import API_KEY, PASSWORD, Run

CACHE = Path(".cxrecon") / "cache"


def cache_use(stderr: str) -> dict[str, int]:
    summary = json.loads(stderr[stderr.index("{") :])
    counts: dict[str, int] = summary["cache"]
    return counts


def test_warm_plan_and_drift_print_what_cold_ones_do(
    project: Path, applied: dict[str, str], run: Run
) -> None:
    support = project / "connectors" / "support-desk.yaml"
    text = support.read_text()
    support.write_text(text.replace("Cases from the support desk", "Cases, edited in git"))
    assert support.read_text() != text
    files = len(list((project / "connectors").glob("*.yaml")))

    uncached = run("plan", "--format", "json", "--no-cache", "--metrics-format", "json")
    assert uncached.exit_code == 0, uncached.output
    assert not (project / CACHE).exists()
    assert json.loads(uncached.stderr[uncached.stderr.index("{") :])["cache"] is None
    cold = run("plan", "--format", "json", "--metrics-format", "json")
    warm = run("plan", "--format", "json", "--metrics-format", "json")

    assert cache_use(cold.stderr) == {"hits": 0, "misses": files}
    assert cache_use(warm.stderr) == {"hits": files, "misses": 0}
    assert warm.stdout == cold.stdout == uncached.stdout
    assert json.loads(warm.stdout)["summary"]["update"] == 1

    assert run("drift", "--no-cache").stdout == run("drift").stdout
    drift_json = run("drift", "--format", "json", "--metrics-format", "text")
    assert "cache: 2 hits, 0 misses" in drift_json.stderr
    assert drift_json.stdout == run("drift", "--format", "json", "--no-cache").stdout

    stored = [p for p in (project / CACHE).rglob("*") if p.is_file()]
    assert len(stored) == files + 1  # and the .gitignore
    for entry in stored:
        data = entry.read_bytes()
        assert API_KEY.encode() not in data
        assert PASSWORD.encode() not in data


def test_warm_validate_reports_every_finding_as_cold(project: Path, run: Run) -> None:
    support = project / "connectors" / "support-desk.yaml"
    support.write_text(support.read_text().replace("INBOUND", "INBOUNDS", 1) + "extra: 1\n")

    cold = run("validate", "--format", "json")
    warm = run("validate", "--format", "json")
    text_warm = run("validate")

    assert cold.exit_code == warm.exit_code == text_warm.exit_code == 1
    cold_body, warm_body = json.loads(cold.stdout), json.loads(warm.stdout)
    assert warm_body.pop("cache") == {"hits": 2, "misses": 0}
    assert cold_body.pop("cache") == {"hits": 0, "misses": 2}
    assert warm_body == cold_body
    assert len(warm_body["diagnostics"]) >= 2
    assert text_warm.stdout == run("validate", "--no-cache").stdout
