"""Soak: the controller (`cxrecon reconcile --self-heal`) for many cycles with faults on.

Run `python benchmarks/soak_controller.py [--cycles N] [--interval 0.5s]`. The defaults
compress an hour of a 10-second-interval controller (360 cycles) into about three minutes: the
emulator injects 5xx/429/connection faults, the soak pushes git commits and makes out-of-band
edits meanwhile. The controller runs as its own process; per cycle its RSS, open fds and
sockets are sampled from /proc. Checks: exit 0 on SIGTERM, every cycle accounted for (started
== finished == the metrics' count == the log's), RSS growth and socket count bounded, and
one audit record per write the emulator accepted. Exit code 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from reconciler.config.durations import parse_duration
from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.embedded import EmbeddedEmulator

CONNECTORS = 20
RSS_GROWTH_LIMIT_MIB = 16.0  # last tenth of the run vs. the tenth after warm-up
SOCKET_SLACK = 1  # a scrape connection or git pipe caught in one sample but not another
SOCKET_CEILING = 8  # listening + event-loop self-pipe + a cycle's pool (parallelism + 1)
WARMUP_CYCLES = 20
FAULTS = {"faultRate": 0.05, "faultKinds": ["500", "502", "503", "429", "reset"], "seed": 7}


@dataclass
class Sample:
    cycle: int
    rss_kib: int
    fds: int
    sockets: int


@dataclass
class Figures:
    samples: list[Sample] = field(default_factory=list)
    commits: int = 0
    edits: int = 0


def connector_yaml(name: str, batch: int) -> str:
    return (
        f"name: {name}\nlifecycleStatus: ACTIVE\nconnectorType: CUSTOM\n"
        f"endpointUrl: https://crm.example/{name.lower()}\n"
        "authentication:\n  type: API_KEY\n  credentials:\n"
        "    apiKey: ${env:SOAK_API_KEY}\n    headerName: X-Api-Key\n"
        "mappings:\n  - cxoneField: contact.external_id\n    crmField: id\n"
        "    direction: INBOUND\n"
        f"syncSettings:\n  batchSize: {batch}\n"
    )


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "soak",
        "GIT_AUTHOR_EMAIL": "soak@example.invalid",
        "GIT_COMMITTER_NAME": "soak",
        "GIT_COMMITTER_EMAIL": "soak@example.invalid",
    }
    done = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def make_repo(root: Path) -> tuple[Path, Path]:
    """(author clone, controller checkout), both of a bare origin with CONNECTORS connectors."""
    origin = root / "origin.git"
    git(root, "init", "-q", "--bare", str(origin))
    author = root / "author"
    git(root, "clone", "-q", str(origin), str(author))
    (author / "connectors").mkdir()
    (author / "cxrecon.yaml").write_text("project: soak\nconnectors: connectors/\n")
    for i in range(CONNECTORS):
        (author / "connectors" / f"c{i:02d}.yaml").write_text(connector_yaml(f"Soak-{i:02d}", 100))
    git(author, "add", "-A")
    git(author, "commit", "-q", "-m", "soak connectors")
    git(author, "push", "-q", "origin", "HEAD:main")
    checkout = root / "checkout"
    git(root, "clone", "-q", "--branch", "main", str(origin), str(checkout))
    return author, checkout


def proc_sample(pid: int, cycle: int) -> Sample:
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    fds = sockets = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed between listing and reading
        fds += 1
        sockets += target.startswith("socket:")
    return Sample(cycle, rss, fds, sockets)


def metric_total(text: str, family: str) -> float:
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        if f.name == family
        for s in f.samples
        if s.name.endswith("_total")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=360)
    parser.add_argument("--interval", default="0.5s")
    args = parser.parse_args()
    interval = parse_duration(args.interval)
    rng = random.Random(11)
    figures = Figures()
    with tempfile.TemporaryDirectory(prefix="cxrecon-soak-") as tmp:
        root = Path(tmp)
        author, checkout = make_repo(root)
        with EmbeddedEmulator(root / "emulator.sqlite") as emulator:
            control = EmulatorControl(emulator.root_url)
            control.faults(**FAULTS)
            audit = root / "audit.jsonl"
            env = {
                **os.environ,
                "CXONE_BASE_URL": emulator.base_url,
                "CXONE_CLIENT_ID": "demo-client",
                "CXONE_CLIENT_SECRET": "demo-secret",
                "SOAK_API_KEY": "soak-api-key-value",
            }
            cmd = [sys.executable, "-m", "reconciler", "reconcile", "--repo", str(checkout)]
            cmd += ["--interval", args.interval, "--self-heal", "--listen", "127.0.0.1:0"]
            cmd += ["--audit-log", str(audit), "--backoff-base", "1s", "--backoff-cap", "10s"]
            started = time.monotonic()
            proc = subprocess.Popen(
                cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            log_lines: list[str] = []
            url_ready = threading.Event()
            url: list[str] = []

            def read_log() -> None:
                assert proc.stderr is not None
                for line in proc.stderr:
                    log_lines.append(line)
                    if not url and "serving /healthz" in line:
                        url.append(line.rsplit(" on ", 1)[1].strip())
                        url_ready.set()

            reader = threading.Thread(target=read_log, daemon=True)
            reader.start()
            if not url_ready.wait(60):
                proc.kill()
                print("the controller did not start:\n" + "".join(log_lines))
                return 1
            http = httpx.Client(base_url=url[0], timeout=10)
            seen = 0
            while seen < args.cycles:
                status = http.get("/status").json()
                finished = int(status["cyclesFinished"])
                if finished > seen:
                    seen = finished
                    figures.samples.append(proc_sample(proc.pid, seen))
                    if seen % 15 == 0:  # a commit in git: applied by the next cycle
                        name = f"c{rng.randrange(CONNECTORS):02d}.yaml"
                        path = author / "connectors" / name
                        path.write_text(
                            connector_yaml(f"Soak-{name[1:3]}", rng.randrange(10, 1000))
                        )
                        git(author, "commit", "-q", "-am", f"soak change {seen}")
                        git(author, "push", "-q", "origin", "main")
                        figures.commits += 1
                    if seen % 10 == 5:  # someone edits a connector in the UI: healed
                        try:
                            listing = httpx.get(
                                f"{emulator.base_url}/crm/connectors?top=100",
                                headers=control.auth_headers(),
                            )
                        except httpx.TransportError:
                            continue  # the injected faults hit this listing too: next time
                        if listing.status_code == 200 and listing.json()["items"]:
                            target = rng.choice(listing.json()["items"])
                            control.edit(target["id"], {"description": f"ui edit {seen}"})
                            figures.edits += 1
                time.sleep(interval / 5)
            final_status = http.get("/status").json()
            metrics = http.get("/metrics").text
            http.close()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=120)
            reader.join(timeout=10)
            assert proc.stderr is not None
            proc.stderr.close()
            elapsed = time.monotonic() - started
            control.faults(faultRate=0.0)
            writes_accepted = accepted_writes(control.stats())
            control.close()
            records = audit.read_text().splitlines() if audit.exists() else []
    return report(
        figures, final_status, metrics, log_lines, code, elapsed, writes_accepted, records
    )


def accepted_writes(stats: dict[str, Any]) -> int:
    routes = stats["requests"]
    total = 0
    for route in ("POST /api/v2/crm/connectors", "PATCH /api/v2/crm/connectors/{id}"):
        total += sum(n for status, n in routes.get(route, {}).items() if status.startswith("2"))
    return total


def report(
    figures: Figures,
    status: dict[str, Any],
    metrics: str,
    log_lines: list[str],
    code: int,
    elapsed: float,
    writes_accepted: int,
    records: list[str],
) -> int:
    samples = figures.samples
    steady = [s for s in samples if s.cycle > WARMUP_CYCLES] or samples
    tenth = max(1, len(steady) // 10)
    rss_early = statistics.median(s.rss_kib for s in steady[:tenth]) / 1024
    rss_late = statistics.median(s.rss_kib for s in steady[-tenth:]) / 1024
    socket_base = min(s.sockets for s in steady)
    fd_base = min(s.fds for s in steady)
    sockets_early = statistics.median(s.sockets for s in steady[:tenth])
    sockets_late = statistics.median(s.sockets for s in steady[-tenth:])
    fds_early = statistics.median(s.fds for s in steady[:tenth])
    fds_late = statistics.median(s.fds for s in steady[-tenth:])
    started = int(status["cyclesStarted"])
    finished = int(status["cyclesFinished"])
    by_metrics = metric_total(metrics, "cxrecon_reconcile_cycles")
    started_metric = metric_total(metrics, "cxrecon_reconcile_cycles_started")
    logged = sum(1 for line in log_lines if re.search(r" cycle \d+ (at \S+)?", line))
    results: dict[str, int] = {}
    for f in text_string_to_metric_families(metrics):
        if f.name == "cxrecon_reconcile_cycles":
            for s in f.samples:
                if s.name.endswith("_total"):
                    results[s.labels["result"]] = int(s.value)
    parsed = [json.loads(line) for line in records]
    audited_writes = sum(1 for r in parsed if r["result"] == "success")
    print(
        f"soak: {finished} cycles in {elapsed:.0f}s ({figures.commits} commits pushed, "
        f"{figures.edits} out-of-band edits, faults {FAULTS['faultRate']:.0%})"
    )
    print(f"  results: {results}")
    print(
        f"  cycles: started {started}, finished {finished}, metrics {by_metrics:.0f} "
        f"(started {started_metric:.0f}), logged {logged}"
    )
    print(
        f"  RSS MiB: after warm-up {rss_early:.1f}, last tenth {rss_late:.1f}, "
        f"max {max(s.rss_kib for s in samples) / 1024:.1f}"
    )
    print(
        f"  fds: min {fd_base}, max {max(x.fds for x in steady)}, median early "
        f"{fds_early:.0f} / late {fds_late:.0f}; sockets: min {socket_base}, max "
        f"{max(x.sockets for x in steady)}, median early {sockets_early:.0f} / late "
        f"{sockets_late:.0f}"
    )
    for family in ("cxrecon_api_requests", "cxrecon_api_retries", "cxrecon_api_rate_limited"):
        print(f"  {family}_total: {metric_total(metrics, family):.0f}")
    print(
        f"  writes accepted by the emulator {writes_accepted}, audit records {len(parsed)} "
        f"({audited_writes} successful writes); exit code {code}"
    )
    failures = [line.strip() for line in log_lines if ": failed after " in line]
    for line in failures[:3]:
        print(f"  failed cycle: {line[:240]}")
    checks = {
        "exit 0 after SIGTERM": code == 0,
        # Read while the controller runs: when a cycle outlasts the interval (fault backoff)
        # the next starts at once, so one may be in flight; none may go missing.
        "every cycle accounted for": 0 <= started - finished <= 1
        and finished <= by_metrics <= started <= started_metric <= started + 1,
        "every finished cycle logged": logged >= finished,
        f"RSS growth < {RSS_GROWTH_LIMIT_MIB} MiB": rss_late - rss_early < RSS_GROWTH_LIMIT_MIB,
        # A sample may land while the next cycle runs (git pipes, API connections): judge the
        # trend, early tenth vs. last tenth, plus a hard ceiling.
        "no leaked sockets": sockets_late <= sockets_early + SOCKET_SLACK
        and max(s.sockets for s in steady) <= socket_base + SOCKET_CEILING,
        "no leaked fds": fds_late <= fds_early + SOCKET_SLACK,
        "one audit record per accepted write": audited_writes == writes_accepted,
        # The client does not retry a plain 500 (by design), so an injected 500 on the listing
        # fails that cycle; the next one must recover and nothing may be an internal error.
        "failed cycles are API faults only": all("injected fault" in f for f in failures)
        and not any("Traceback" in line for line in log_lines),
        f"failed cycles <= {FAULTS['faultRate']:.0%}": results.get("failed", 0)
        <= FAULTS["faultRate"] * finished,  # type: ignore[operator]
        "the last cycle succeeded": status["lastCycle"]["result"] != "failed",
    }
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAIL'}] {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
