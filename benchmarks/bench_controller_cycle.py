"""Benchmark controller cycles (issue 16): N connectors × 20 mappings in a git repository the
controller pulls, the emulator at --latency-ms, in sync but for 1 % changed in CXone.

Cycles, each timed by phase (pull, load, fetch, plan, apply) as /metrics reports them:
  1. the first cycle: every file parsed;
  2. an unchanged commit: target no file parsed, and the cycle dominated by the fetch;
  3. a commit touching one file: target exactly one file parsed.
One controller (dry-run, so nothing is written), its cycles sharing one client as
`cxrecon reconcile` runs them.

    python benchmarks/bench_controller_cycle.py [--connectors N] [--latency-ms MS]

Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from bench_plan import CHANGED_FRACTION, connector_document, seed, write_files

from reconciler.config.settings import ConnectionSettings
from reconciler.controller.loop import Controller
from reconciler.controller.report import ControllerOptions, CycleReport, Phase
from reconciler.emulator.config import EmulatorConfig
from reconciler.testing import start_emulator


def git(cwd: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.invalid",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    }
    subprocess.run(
        ["git", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
    )


def repository(root: Path, count: int) -> tuple[Path, Path]:
    """A bare origin, an author clone holding the connectors, and the controller's clone."""
    origin, author, checkout = root / "origin.git", root / "author", root / "checkout"
    git(root, "init", "-q", "--bare", str(origin))
    git(root, "clone", "-q", str(origin), str(author))
    write_files(author, count)
    (author / "cxrecon.yaml").write_text("project: bench\nconnectors: connectors/\n")
    git(author, "add", "-A")
    git(author, "commit", "-q", "-m", "connectors")
    git(author, "push", "-q", "origin", "HEAD:main")
    git(root, "clone", "-q", "--branch", "main", str(origin), str(checkout))
    return author, checkout


def describe(label: str, report: CycleReport) -> None:
    phases = ", ".join(f"{p.value} {report.phases.get(p, 0.0):.2f}s" for p in Phase)
    print(
        f"{label:<22} {report.duration:6.2f}s, {report.files_parsed} files parsed "
        f"({phases}); {report.result.value}"
    )


async def cycles(checkout: Path, author: Path, base_url: str, state: Path) -> list[CycleReport]:
    options = ControllerOptions(
        repo=checkout, audit_log=state / "audit.jsonl", dry_run=True, interval=3600
    )
    settings = ConnectionSettings.for_emulator(base_url)
    # The checkout is the controller's own clone (inside $STATE_DIRECTORY, as systemd's
    # StateDirectory= gives it), so a dry-run cycle moves it to each pushed commit; in anyone
    # else's clone it would plan the working tree as it is and never parse the pushed file.
    controller = Controller(
        options,
        settings_for=lambda _p, _e: settings,
        environ={"STATE_DIRECTORY": str(checkout.parent)},
        process_metrics=False,
    )
    reports = []
    async with controller.runner.keep_client():
        reports.append(await controller.cycle())
        reports.append(await controller.cycle())
        doc = connector_document(7)
        doc["description"] = "edited in git"
        (author / "connectors" / "bench-00007.yaml").write_text(
            yaml.safe_dump(doc, sort_keys=False), encoding="utf-8"
        )
        git(author, "commit", "-q", "-am", "one connector edited")
        git(author, "push", "-q", "origin", "HEAD:main")
        reports.append(await controller.cycle())
        reports.append(await controller.cycle())
    return reports


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--connectors", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cxrecon-bench-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        author, checkout = repository(root, args.connectors)
        db = seed(root / "tenant.sqlite", args.connectors, round(1 / CHANGED_FRACTION))
        print(f"prepared {args.connectors} connectors in {time.perf_counter() - start:.1f}s")
        config = dataclasses.replace(EmulatorConfig(), latency_ms=args.latency_ms)
        emulator = start_emulator(db, config)
        try:
            first, unchanged, one, after = asyncio.run(
                cycles(checkout, author, emulator.base_url, root / "state")
            )
        finally:
            emulator.stop()
    print(f"connectors: {args.connectors} × 20 mappings, latency {args.latency_ms} ms")
    describe("first cycle:", first)
    describe("unchanged commit:", unchanged)
    describe("one file changed:", one)
    describe("unchanged again:", after)
    fetch = unchanged.phases.get(Phase.FETCH, 0.0)
    share = fetch / unchanged.duration
    print(
        f"unchanged commit: cycle {unchanged.duration:.2f}s against fetch {fetch:.2f}s "
        f"(fetch {share:.0%} of the cycle; load {unchanged.phases.get(Phase.LOAD, 0.0):.2f}s "
        f"vs {first.phases.get(Phase.LOAD, 0.0):.2f}s on the first cycle)"
    )
    ok = (
        unchanged.files_parsed == 0
        and one.files_parsed == 1
        and after.files_parsed == 0
        and fetch >= max(p for ph, p in unchanged.phases.items() if ph is not Phase.FETCH)
    )
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
