"""Benchmark: `cxrecon apply` of 1,000 new ACTIVE connectors (2,000 writes: POST as DRAFT + the
activating PATCH) against the emulator at --rate-limit 200 in its own process.

Targets: wall time ≤ 1.15 × the 10 s the limit allows (2,000 writes / 200 per second), and
≤ 1% of requests answered 429. Run `python benchmarks/bench_apply.py [--count N]`; figures are
printed and the exit code is 1 when a target is missed. The interpreter running it runs
cxrecon: use a plain install's (`.venv/bin/python` after the README's `pip install .`) for
the figure a user sees; the editable test environment starts ~0.4 s slower.
`--distinct-secrets` gives every connector its own secret variable (one scrypt fingerprint
each) to show what that costs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from reconciler.config.settings import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET

RATE_LIMIT = 200.0
WALL_FACTOR = 1.15
MAX_429_SHARE = 0.01


def start_server(db: Path, rate_limit: float) -> tuple[subprocess.Popen[str], str]:
    """`cxrecon emulator serve` on a free port; returns the process and its root URL."""
    command = [
        *(sys.executable, "-m", "reconciler", "emulator", "serve"),
        *("--port", "0", "--db", str(db), "--no-access-log"),
        *("--rate-limit", str(rate_limit)),
    ]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    assert proc.stderr is not None
    for line in proc.stderr:
        found = re.search(r"on (http://[^/\s]+)/api/v2", line)
        if found:
            return proc, found.group(1)
    proc.wait()
    raise SystemExit(f"the emulator did not start (exit {proc.returncode})")


def install_kind() -> str:
    """Which cxrecon the figures are for: start-up differs by ~0.4 s between a plain install
    (`pip install .`, as the README's first command; bytecode compiled at install) and an
    editable test environment (its extras add imports, e.g. trio under httpcore)."""
    import importlib.util

    import reconciler

    where = Path(reconciler.__file__).parent
    kind = "site-packages (pip install .)" if "site-packages" in where.parts else "editable"
    extras = [m for m in ("trio", "rich") if importlib.util.find_spec(m) is not None]
    if extras:
        kind += f"; also installed here, imported by httpx/httpcore: {', '.join(extras)}"
    if sys.flags.dont_write_bytecode or os.environ.get("PYTHONDONTWRITEBYTECODE"):
        kind += "; PYTHONDONTWRITEBYTECODE set"
    return kind


def connector(index: int, distinct: bool) -> dict[str, Any]:
    variable = f"BENCH_API_KEY_{index}" if distinct else "BENCH_API_KEY"
    return {
        "name": f"Bench-{index:04d}",
        "description": "benchmark connector",
        "lifecycleStatus": "ACTIVE",
        "connectorType": "CUSTOM",
        "endpointUrl": f"https://bench-{index}.crm.example/api",
        "authentication": {
            "type": "API_KEY",
            "credentials": {"apiKey": "${env:" + variable + "}", "headerName": "X-Api-Key"},
        },
        "mappings": [
            {"cxoneField": "case.external_id", "crmField": "id", "direction": "INBOUND"},
            {"cxoneField": "contact.email", "crmField": "email", "direction": "OUTBOUND"},
        ],
        "version": "1.0.0",
        "labels": {"team": "bench"},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument("--distinct-secrets", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cxrecon-bench-apply-") as tmp:
        root = Path(tmp)
        connectors = root / "connectors"
        connectors.mkdir()
        # A write names the project's identity (no cxrecon.yaml here: CXRECON_PROJECT does).
        env = {**os.environ, "BENCH_API_KEY": "bench-secret-value", "CXRECON_PROJECT": "bench"}
        for i in range(args.count):
            doc = connector(i, args.distinct_secrets)
            (connectors / f"bench-{i:04d}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
            env[f"BENCH_API_KEY_{i}"] = f"bench-secret-value-{i}"
        server, url = start_server(root / "emulator.sqlite", RATE_LIMIT)
        try:
            env.update(
                CXONE_BASE_URL=f"{url}/api/v2",
                CXONE_CLIENT_ID=EMULATOR_CLIENT_ID,
                CXONE_CLIENT_SECRET=EMULATOR_CLIENT_SECRET,
            )
            command = [
                *(sys.executable, "-m", "reconciler", "apply", "--auto-approve"),
                *("--parallelism", str(args.parallelism), "--metrics-format", "json"),
            ]
            started = time.perf_counter()
            run = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - started
            stats = httpx.get(f"{url}/_emulator/stats", timeout=10).json()
        finally:
            server.terminate()
            server.wait(timeout=30)

    if run.returncode != 0:
        print(run.stdout[-3000:], run.stderr[-3000:], sep="\n")
        print(f"FAIL: apply exited {run.returncode}")
        return 1
    summary, _ = json.JSONDecoder().raw_decode(run.stderr[run.stderr.index('{\n  "version"') :])
    ops = {op["operation"]: op for op in summary["operations"]}
    writes = ops["create_connector"]["requests"] + ops["patch_connector"]["requests"]
    requests = summary["total"]["requests"]
    throttled = summary["total"]["rateLimited"]
    floor = 2 * args.count / RATE_LIMIT
    share = throttled / requests if requests else 0.0
    print(f"measured install:      {install_kind()}")
    print(f"connectors:            {args.count} new ACTIVE ({stats['connectors']} on the server)")
    print(f"secrets:               {'one per connector' if args.distinct_secrets else 'shared'}")
    print(
        f"writes:                {writes} (POST {ops['create_connector']['requests']}, "
        f"PATCH {ops['patch_connector']['requests']})"
    )
    print(
        f"requests:              {requests} total, {throttled} answered 429 ({share:.2%}); "
        f"server counted {stats['rateLimited']} rate-limited"
    )
    print(f"apply wall time:       {wall:.2f} s end to end (process start to exit)")
    print(f"  in-run duration:     {summary['durationSeconds']:.2f} s (plan + execute)")
    print(
        f"floor at {RATE_LIMIT:.0f} req/s:     {floor:.2f} s → ratio {wall / floor:.3f} "
        f"(target ≤ {WALL_FACTOR})"
    )
    for name in ("create_connector", "patch_connector"):
        lat = ops[name]["latencyMs"]
        print(
            f"  {name:<19} p50 {lat['p50']:.1f} ms  p95 {lat['p95']:.1f} ms  "
            f"p99 {lat['p99']:.1f} ms"
        )
    ok = (
        wall <= WALL_FACTOR * floor and share <= MAX_429_SHARE and stats["connectors"] == args.count
    )
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
