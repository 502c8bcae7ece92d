"""Benchmark a warm `cxrecon plan` (issue 16): the cache of checked files filled, nothing
changed in git, against the cold plan and the cold floor, side by side in one run.

Target: warm plan wall time ≤ 0.6 × the cold floor (parsing the same files with the C YAML
loader + fetching every page), i.e. faster than parsing the files at all; the warm plan's
output is the cold plan's. Same tenant and files as bench_plan.py (N connectors × 20
mappings, 1 % changed in CXone, emulator at --latency-ms), seeded the same way.

    python benchmarks/bench_warm_plan.py [--connectors N] [--latency-ms MS] [--rounds R]

The floor, the cold plan (no cache) and the warm plan (the cache filled by a plan before)
are each measured in a fresh child process, taking turns; figures are the best of --rounds.
Exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_plan import CHANGED_FRACTION, measure_floor, seed, write_files

from reconciler.emulator.config import EmulatorConfig
from reconciler.testing import start_emulator

WARM_FACTOR = 0.6


def measure_plan(root: Path, base_url: str, cached: bool) -> dict[str, float]:
    """One `cxrecon plan` as the command runs it: the desired state is loaded (from the
    cache when `cached`) while the tenant is fetched, then diffed and rendered."""
    from reconciler.config.project import load_project
    from reconciler.config.settings import ConnectionSettings
    from reconciler.cxone.client import CxoneClient
    from reconciler.facade import make_plan, secrets_for
    from reconciler.load.cache import FileCache
    from reconciler.render.text import TextRenderer

    wall = time.perf_counter()
    project = load_project(root)
    cache = FileCache.for_project(root) if cached else None

    async def run() -> Any:
        async with CxoneClient(ConnectionSettings.for_emulator(base_url)) as client:
            return await make_plan(
                project, client, secrets=secrets_for(project, environ={}), cache=cache
            )

    result = asyncio.run(run())
    if cache is not None:
        cache.close()
    output = TextRenderer().render(result.plan)
    return {
        "wall": time.perf_counter() - wall,
        "load": result.timings["load"],
        "fetch": result.timings["fetch"],
        "diff": result.timings["diff"],
        "parsed": result.loaded.parsed,
        "reused": result.loaded.reused,
        "output": int(hashlib.sha256(output.encode()).hexdigest()[:12], 16),
    }


def child(kind: str, root: Path, base_url: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--root", str(root), "--base-url", base_url],
        check=False,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"the {kind} measurement failed:\n{out.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(out.stdout)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--connectors", type=int, default=2_000)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=["floor", "cold", "warm"], help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "floor":
        print(json.dumps(measure_floor(args.root / "connectors", args.base_url)))
        return 0
    if args.child:
        print(json.dumps(measure_plan(args.root, args.base_url, args.child == "warm")))
        return 0

    with tempfile.TemporaryDirectory(prefix="cxrecon-bench-") as tmp:
        root = Path(tmp)
        write_files(root, args.connectors)
        db = seed(root / "tenant.sqlite", args.connectors, round(1 / CHANGED_FRACTION))
        config = dataclasses.replace(EmulatorConfig(), latency_ms=args.latency_ms)
        emulator = start_emulator(db, config)
        runs: dict[str, list[dict[str, float]]] = {"floor": [], "cold": [], "warm": []}
        try:
            child("warm", root, emulator.base_url)  # fills the cache
            for _ in range(args.rounds):
                for kind in runs:
                    runs[kind].append(child(kind, root, emulator.base_url))
        finally:
            emulator.stop()
        cache_bytes = sum(p.stat().st_size for p in (root / ".cxrecon").rglob("*") if p.is_file())
        shutil.rmtree(root / ".cxrecon", ignore_errors=True)

    floor = min(runs["floor"], key=lambda f: f["parse"] + f["fetch"])
    floor_s = floor["parse"] + floor["fetch"]
    cold = min(runs["cold"], key=lambda p: p["wall"])
    warm = min(runs["warm"], key=lambda p: p["wall"])
    print(f"connectors: {args.connectors} × 20 mappings, latency {args.latency_ms} ms")
    print(
        f"cold floor:  {floor_s:6.2f}s (C YAML parse {floor['parse']:.2f}s + fetch "
        f"{floor['fetch']:.2f}s)"
    )
    for label, plan in (("cold plan:", cold), ("warm plan:", warm)):
        print(
            f"{label:<12} {plan['wall']:6.2f}s: load {plan['load']:.2f}s while fetching "
            f"{plan['fetch']:.2f}s, then diff {plan['diff']:.2f}s; files parsed "
            f"{int(plan['parsed'])}, from the cache {int(plan['reused'])}"
        )
    print(f"cache: {cache_bytes / 1e6:.1f} MB on disk for {args.connectors} files")
    same = {p["output"] for p in (*runs["cold"], *runs["warm"])}
    ratio = warm["wall"] / floor_s
    print(
        f"ratio: warm plan {ratio:.2f}× the cold floor (target ≤ {WARM_FACTOR}×); cold plan "
        f"{cold['wall'] / floor_s:.2f}× the floor; warm load {warm['load']:.2f}s vs cold "
        f"{cold['load']:.2f}s ({cold['load'] / max(warm['load'], 1e-9):.1f}×)"
    )
    ok = ratio <= WARM_FACTOR and warm["parsed"] == 0 and len(same) == 1
    print("same plan output warm and cold" if len(same) == 1 else "PLAN OUTPUT DIFFERS")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
