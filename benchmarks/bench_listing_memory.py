"""Benchmark: peak memory of `cxrecon plan` against a listing that never ends, at the default
CXONE_MAX_CONNECTORS / CXONE_MAX_LISTING_BYTES.

The server is tests/cxone/listing_server.py on 127.0.0.1 (a huge totalRecords, a total that
lies, skip ignored, pages of large or small connectors that never shrink); each plan runs
as its own process, measured by wait4's ru_maxrss. Every run must end in one error line
naming a bound (or the repeated connector), exit 1, under 600 MB; a big tenant within the
bounds (45,000 connectors) is planned as usual, under 600 MB too. Run `python
benchmarks/bench_listing_memory.py [MODE ...]`; exit code 1 on a miss.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]
# The hostile server lives with the tests that assert the same bound; run from anywhere.
# `tests/` is no package (pytest's rootdir import mode): its folders are top-level packages.
sys.path.insert(0, str(ROOT / "tests"))

from cxone.listing_server import MODES, ListingServer  # noqa: E402

PEAK_BOUND_MB: Final = 600
#: What each mode's one error line must name.
EXPECTED: Final = {
    "huge-total": "CXONE_MAX_CONNECTORS",
    "lying-total": "CXONE_MAX_LISTING_BYTES",
    "ignore-skip": "the server ignores `skip`",
    "endless": "CXONE_MAX_LISTING_BYTES",
    "endless-small": "CXONE_MAX_CONNECTORS",
    "big-tenant": "",  # within the bounds: planned as usual, exit 0
}


def plan_peak(project: Path, base_url: str) -> tuple[int, str, int, float]:
    """Exit code, stderr, peak RSS (MB) and seconds of one `cxrecon plan` process."""
    env = {
        **os.environ,
        "CXONE_BASE_URL": base_url,
        "CXONE_CLIENT_ID": "bench",
        "CXONE_CLIENT_SECRET": "bench-secret",
        "NO_COLOR": "1",
        # Named, so the plan's only stderr line is the bound's error (no "project: not set").
        "CXRECON_PROJECT": "bench",
    }
    errors = project / "stderr.txt"
    started = time.monotonic()
    with errors.open("wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "plan", "connectors"],
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - started
    return child.returncode, errors.read_text(encoding="utf-8"), usage.ru_maxrss // 1024, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modes", nargs="*", metavar="MODE", help=", ".join(MODES))
    modes = parser.parse_args().modes or list(MODES)
    unknown = [mode for mode in modes if mode not in MODES]
    if unknown:
        parser.error(f"unknown mode {unknown[0]!r}; one of {', '.join(MODES)}")
    missed = 0
    with tempfile.TemporaryDirectory() as tmp, ListingServer() as server:
        project = Path(tmp)
        (project / "connectors").mkdir()
        shutil.copy(ROOT / "connectors" / "legacy-zendesk-basic.yaml", project / "connectors")
        print(f"{'mode':<14} {'peak RSS':>9} {'seconds':>8} {'pages':>6}  result")
        for mode in modes:
            code, stderr, peak, seconds = plan_peak(project, server.base_url(mode))
            lines = stderr.strip().splitlines()
            if EXPECTED[mode]:
                ended = code == 1 and len(lines) == 1 and EXPECTED[mode] in lines[0]
            else:
                ended = code == 0
            ok = ended and peak < PEAK_BOUND_MB
            missed += not ok
            verdict = "ok" if ok else f"MISS (exit {code}): {stderr.strip()[-300:]}"
            pages = server.pages_sent.get(mode, 0)
            print(f"{mode:<14} {peak:>6} MB {seconds:>8.1f} {pages:>6}  {verdict}")
    print(f"bound: {PEAK_BOUND_MB} MB; {len(modes) - missed} of {len(modes)} within it")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
