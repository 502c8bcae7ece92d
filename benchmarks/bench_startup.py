"""Benchmark: how fast `cxrecon` starts (issue 16), against `python -c "import click"`.

Targets: `cxrecon --help` (and a command's `--help`) within 3× of importing click, and
`cxrecon validate` of the sample connectors (connectors/, with this repository's cxrecon.yaml)
within 4×. Every command runs in a fresh subprocess, the commands take turns run after run (so
a busy machine slows them alike), and each figure is the median of --runs runs.

    python benchmarks/bench_startup.py [--runs N] [--importtime] [--top K] [--source DIR]

--importtime runs each command once more under `python -X importtime` and prints the
imports that cost most (cumulative, top-level; and self time), plus which of the modules
startup must not need (httpx, jsonschema, deepdiff, ...) were loaded. Exits 1 when a target
is missed. --source DIR measures another checkout of the repository (e.g. `git archive HEAD`
unpacked there) with this interpreter, for before/after figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The checkout measured (--source): its `reconciler` package, cxrecon.yaml and connectors/.
SOURCE = {"root": ROOT}
#: Modules no `--help` needs (tests/test_startup.py asserts the same list).
HEAVY = (
    "httpx",
    "jsonschema",
    "jsonschema_rs",
    "deepdiff",
    "anyio",
    "prometheus_client",
    "starlette",
    "uvicorn",
    "croniter",
    "ruamel",
)


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]  # after the interpreter
    target: float | None  # allowed ratio to the baseline; None: the baseline itself


def cxrecon() -> tuple[str, ...]:
    """The console script run by this interpreter (what `cxrecon` runs), else `-m reconciler`."""
    script = Path(sys.executable).parent / "cxrecon"
    if script.is_file():
        return (str(script),)
    return ("-m", "reconciler")


def cases() -> list[Case]:
    entry = cxrecon()
    return [
        Case('python -c "import click"', ("-c", "import click"), None),
        Case("cxrecon --help", (*entry, "--help"), 3.0),
        Case("cxrecon plan --help", (*entry, "plan", "--help"), 3.0),
        Case("cxrecon validate (4 samples)", (*entry, "validate", "connectors"), 4.0),
    ]


def environ() -> dict[str, str]:
    # No annotations (GitHub Actions), no colour; nothing else changes what runs.
    env = {**os.environ, "GITHUB_ACTIONS": "false", "NO_COLOR": "1"}
    if SOURCE["root"] != ROOT:  # ahead of the editable install of this checkout
        env["PYTHONPATH"] = str(SOURCE["root"])
    return env


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(case: Case, *flags: str) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """(wall seconds, CPU seconds, the finished process)."""
    cpu = children_cpu()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *flags, *case.args],
        cwd=SOURCE["root"],
        env=environ(),
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{case.name} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed, children_cpu() - cpu, done


def parse_importtime(stderr: str) -> list[tuple[int, int, int, str]]:
    """(self µs, cumulative µs, depth, module) for each `import time:` line."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((int(self_us), int(cumulative_us), depth, name.strip()))
    return rows


def importtime_report(case: Case, top: int) -> None:
    *_, done = run_once(case, "-X", "importtime")
    rows = parse_importtime(done.stderr)
    total = sum(r[1] for r in rows if r[2] == 0)
    heavy = sorted({r[3] for r in rows if r[3].split(".")[0] in HEAVY and "." not in r[3]})
    print(f"\n{case.name}: {len(rows)} modules imported, {total / 1000:.0f} ms of imports")
    print(f"  heavy modules loaded: {', '.join(heavy) if heavy else 'none'}")
    print(f"  top {top} top-level imports (cumulative):")
    for self_us, cumulative_us, _, name in sorted(
        (r for r in rows if r[2] == 0), key=lambda r: r[1], reverse=True
    )[:top]:
        print(f"    {cumulative_us / 1000:7.1f} ms  {name}  (self {self_us / 1000:.1f} ms)")
    print(f"  top {top} by self time:")
    for self_us, _, _, name in sorted(rows, key=lambda r: r[0], reverse=True)[:top]:
        print(f"    {self_us / 1000:7.1f} ms  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="runs per command (median)")
    parser.add_argument(
        "--importtime", action="store_true", help="also show what each command imports"
    )
    parser.add_argument("--top", type=int, default=12, help="rows of the import summary")
    parser.add_argument("--source", type=Path, help="measure this checkout instead")
    args = parser.parse_args()
    if args.source is not None:
        SOURCE["root"] = args.source.resolve()

    measured = cases()
    load = os.getloadavg()
    for case in measured:  # warm-up: bytecode caches, the page cache
        run_once(case)
    times: dict[str, list[float]] = {case.name: [] for case in measured}
    cpu: dict[str, list[float]] = {case.name: [] for case in measured}
    for _ in range(args.runs):
        for case in measured:
            wall, used, _ = run_once(case)
            times[case.name].append(wall)
            cpu[case.name].append(used)

    baseline = statistics.median(times[measured[0].name])
    baseline_cpu = statistics.median(cpu[measured[0].name])
    print(f"{args.runs} runs each, interleaved; cpus={os.cpu_count()}; {SOURCE['root']}")
    print(f"load average before the runs: {' '.join(f'{x:.1f}' for x in load)}")
    print(
        f"{'command':<32} {'wall':>9} {'min':>9} {'ratio':>7} {'CPU':>9} {'ratio':>7}  "
        "target (wall ratio)"
    )
    ok = True
    for case in measured:
        samples = times[case.name]
        median = statistics.median(samples)
        ratio = median / baseline
        used = statistics.median(cpu[case.name])
        if case.target is None:
            verdict = "(baseline)"
        else:
            met = ratio <= case.target
            ok = ok and met
            verdict = f"≤ {case.target:.0f}×: {'met' if met else 'MISSED'}"
        print(
            f"{case.name:<32} {median * 1000:7.0f}ms {min(samples) * 1000:7.0f}ms "
            f"{ratio:6.2f}× {used * 1000:7.0f}ms {used / baseline_cpu:6.2f}×  {verdict}"
        )
    if args.importtime:
        for case in measured:
            importtime_report(case, args.top)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
