"""Benchmark: emulator GET throughput (target ≥ 1,500 req/s) with 200 concurrent connections.

Run `python benchmarks/bench_emulator.py [--seconds S] [--connections C]`. The emulator runs in
its own process (`cxrecon emulator serve`); a raw-asyncio HTTP/1.1 keep-alive load generator
hammers GET /crm/connectors/{id}; figures are printed and the exit code is 1 under target.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

TARGET_RPS = 1500.0
TARGET_CONNECTIONS = 200
SEEDED_CONNECTORS = 50


@dataclass
class Load:
    ok: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    open_now: int = 0
    open_max: int = 0


def start_server(db: Path) -> tuple[subprocess.Popen[str], str]:
    """`cxrecon emulator serve` on a free port; returns the process and its root URL."""
    command = [
        sys.executable,
        "-m",
        "reconciler",
        "emulator",
        "serve",
        "--port",
        "0",
        "--db",
        str(db),
        "--no-access-log",
    ]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    assert proc.stderr is not None
    for line in proc.stderr:
        # The banner is printed after the socket listens: connections queue from then on.
        found = re.search(r"on (http://[^/\s]+)/api/v2", line)
        if found:
            return proc, found.group(1)
    proc.wait()
    raise SystemExit(f"the emulator did not start (exit {proc.returncode})")


def seed(root: str) -> tuple[str, list[str]]:
    with httpx.Client(base_url=root + "/api/v2", timeout=30) as http:
        token = http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "demo-client",
                "client_secret": "demo-secret",
            },
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        ids = []
        for i in range(SEEDED_CONNECTORS):
            body = {
                "name": f"bench-{i:03d}",
                "connectorType": "SALESFORCE",
                "endpointUrl": "https://acme.my.salesforce.com/services/data/v54.0",
                "authentication": {"type": "OAUTH2", "credentials": {"clientId": "x"}},
                "mappings": [
                    {"cxoneField": f"contact.f{j}", "crmField": f"F{j}", "direction": "INBOUND"}
                    for j in range(10)
                ],
            }
            response = http.post("/crm/connectors", json=body, headers=headers)
            response.raise_for_status()
            ids.append(response.json()["id"])
    return token, ids


async def worker(
    host: str, port: int, token: str, paths: list[str], deadline: float, load: Load
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    load.open_now += 1
    load.open_max = max(load.open_max, load.open_now)
    requests = [
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
        ).encode()
        for path in paths
    ]
    i = 0
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            if head.startswith(b"HTTP/1.1 200"):
                load.ok += 1
                load.latencies.append(time.perf_counter() - start)
            else:
                load.errors += 1
    except (OSError, asyncio.IncompleteReadError):
        load.errors += 1
    finally:
        load.open_now -= 1
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def run_load(root: str, token: str, ids: list[str], seconds: float, conns: int) -> Load:
    url = httpx.URL(root)
    host, port = url.host, url.port or 80
    paths = [f"/api/v2/crm/connectors/{cid}" for cid in ids]
    load = Load()
    deadline = time.perf_counter() + seconds
    await asyncio.gather(
        *(worker(host, port, token, paths[i:] + paths[:i], deadline, load) for i in range(conns))
    )
    return load


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=TARGET_CONNECTIONS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, root = start_server(Path(tmp) / "bench.sqlite")
        try:
            token, ids = seed(root)
            asyncio.run(run_load(root, token, ids, 1.0, args.connections))  # warm-up
            started = time.perf_counter()
            load = asyncio.run(run_load(root, token, ids, args.seconds, args.connections))
            elapsed = time.perf_counter() - started
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    rps = load.ok / elapsed
    lat = sorted(load.latencies) or [0.0]
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print(f"emulator GET /crm/connectors/{{id}} with {args.connections} connections:")
    print(f"  requests ok      {load.ok} in {elapsed:.2f}s, errors {load.errors}")
    print(f"  throughput       {rps:,.0f} req/s (target >= {TARGET_RPS:,.0f})")
    print(f"  concurrent conns {load.open_max} open at once (target {TARGET_CONNECTIONS})")
    print(f"  latency          p50 {statistics.median(lat) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    passed = rps >= TARGET_RPS and load.errors == 0 and load.open_max >= args.connections
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
