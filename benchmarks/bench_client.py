"""Benchmark: the CXone client against the emulator in its own process, over a real port.

(a) list 10,000 connectors at 50 ms injected latency: requests = ⌈N/top⌉ + 1 token request,
    wall time ≤ 3 round trips + transfer (the same listing's time at zero latency);
(b) fetch 1,000 connectors one by one at --rate-limit 100: ≤ 2% answered 429, wall time
    within 15% of N/limit. Run `python benchmarks/bench_client.py`; exit code 1 on a miss.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from reconciler.config.settings import ConnectionSettings
from reconciler.cxone.client import CxoneClient
from reconciler.emulator.resource import build_row, digest_credentials, iso, new_connector_id
from reconciler.emulator.store import Store
from reconciler.emulator.validation import with_defaults

TOP = 100


def seed_db(db: Path, count: int) -> None:
    """Write `count` connectors straight into a fresh emulator database (seconds, not POSTs)."""
    store = Store(db)
    now = iso(time.time())
    with store.write() as tx:
        for i in range(count):
            connector_id = new_connector_id()
            creds = {"apiKey": f"key-{i}"}
            doc = with_defaults(
                {
                    "name": f"bench-{i:05d}",
                    "connectorType": "SALESFORCE",
                    "endpointUrl": "https://acme.my.salesforce.com/services/data/v54.0",
                    "authentication": {"type": "API_KEY", "credentials": creds},
                    "mappings": [
                        {"cxoneField": "contact.email", "crmField": "Email", "direction": "INBOUND"}
                    ],
                }
            )
            stored = digest_credentials(connector_id, doc, creds)
            tx.insert_connector(build_row(connector_id, stored, 1, now, now))
    store.close()


@contextmanager
def emulator(db: Path, *flags: str) -> Iterator[str]:
    """`cxrecon emulator serve` in its own process on a free port; yields its root URL."""
    command = [sys.executable, "-m", "reconciler", "emulator", "serve", "--port", "0"]
    command += ["--db", str(db), "--no-access-log", *flags]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            found = re.search(r"on (http://[^/\s]+)/api/v2", line)
            if found:
                yield found.group(1)
                return
        raise SystemExit(f"the emulator did not start (exit {proc.wait()})")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def admin(root: str, **knobs: object) -> None:
    httpx.post(f"{root}/_emulator/faults", json=knobs, timeout=30).raise_for_status()


def round_trip(root: str, samples: int = 15) -> float:
    """Median time of a tiny authenticated API call on a warm connection."""
    base = root + "/api/v2"
    with httpx.Client(base_url=base, timeout=30) as http:
        form = {"grant_type": "client_credentials", "client_id": "demo-client"}
        form["client_secret"] = "demo-secret"  # noqa: S105 - the emulator's documented demo client
        token = http.post("/oauth/token", data=form).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            http.get("/crm/connectors", params={"top": 1}, headers=headers).raise_for_status()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


async def timed_listing(root: str, parallelism: int) -> tuple[float, int, int, int]:
    settings = ConnectionSettings.for_emulator(root + "/api/v2")
    async with CxoneClient(settings, parallelism=parallelism) as client:
        started = time.perf_counter()
        listed = await client.list_connectors()
        wall = time.perf_counter() - started
    snap = client.stats.snapshot()
    return wall, len(listed), snap.get("list_connectors").requests, snap.get("token").requests


def bench_listing(workdir: Path, count: int, latency_ms: int, parallelism: int) -> bool:
    db = workdir / "listing.sqlite"
    seed_db(db, count)
    with emulator(db) as root:
        asyncio.run(timed_listing(root, parallelism))  # warm caches; not measured
        transfer, *_ = asyncio.run(timed_listing(root, parallelism))
        admin(root, latencyMs=latency_ms)
        rtt = round_trip(root)
        wall, listed, pages, tokens = asyncio.run(timed_listing(root, parallelism))
    expected = math.ceil(count / TOP)
    budget = 3 * rtt + transfer
    print(f"(a) list {count:,} connectors at {latency_ms} ms latency, parallelism {parallelism}")
    print(f"    requests: {pages} pages + {tokens} token (target {expected} + 1)")
    print(f"    round trip {rtt * 1000:.0f} ms; transfer (same listing at 0 ms) {transfer:.3f} s")
    print(f"    wall {wall:.3f} s; budget 3 round trips + transfer = {budget:.3f} s")
    strict = 3 * latency_ms / 1000 + transfer
    print(f"    (with the bare injected latency as the round trip, the budget is {strict:.3f} s)")
    ok = listed == count and pages == expected and tokens == 1 and wall <= budget
    print(f"    {'PASS' if ok else 'FAIL'}")
    return ok


async def timed_gets(root: str, parallelism: int) -> tuple[float, int, int, int]:
    settings = ConnectionSettings.for_emulator(root + "/api/v2")
    async with CxoneClient(settings, parallelism=parallelism) as client:
        ids = [c.id for c in await client.list_connectors()]
        started = time.perf_counter()
        await asyncio.gather(*(client.get_connector(i) for i in ids))
        wall = time.perf_counter() - started
    snap = client.stats.snapshot().get("get_connector")
    return wall, len(ids), snap.requests, snap.rate_limited


def bench_rate_limited(workdir: Path, count: int, limit: int, parallelism: int) -> bool:
    db = workdir / "rate.sqlite"
    seed_db(db, count)
    with emulator(db, "--rate-limit", str(limit)) as root:
        wall, fetched, requests, limited = asyncio.run(timed_gets(root, parallelism))
    ideal = count / limit
    share = limited / requests
    print(f"(b) get {count:,} connectors one by one at --rate-limit {limit}, ", end="")
    print(f"parallelism {parallelism}")
    print(f"    requests {requests}, answered 429: {limited} ({share:.1%}; target ≤ 2%)")
    print(f"    wall {wall:.2f} s; N/limit = {ideal:.2f} s ({wall / ideal - 1:+.1%}; target ±15%)")
    ok = fetched == count and share <= 0.02 and abs(wall - ideal) <= 0.15 * ideal
    print(f"    {'PASS' if ok else 'FAIL'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connectors", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--list-parallelism", type=int, default=100)
    parser.add_argument("--fetch", type=int, default=1_000)
    parser.add_argument("--rate-limit", type=int, default=100)
    parser.add_argument("--parallelism", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-client-") as tmp:
        workdir = Path(tmp)
        a = bench_listing(workdir, args.connectors, args.latency_ms, args.list_parallelism)
        b = bench_rate_limited(workdir, args.fetch, args.rate_limit, args.parallelism)
    return 0 if a and b else 1


if __name__ == "__main__":
    sys.exit(main())
