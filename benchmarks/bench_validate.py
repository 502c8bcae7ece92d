"""Benchmark: validate 1,000 connector files with 20 mappings each (target ≤ 2 s wall).

Run `python benchmarks/bench_validate.py [--files N] [--mappings M] [--repeat R]`; it
times `read_desired` in-process and `cxrecon validate` end to end, and exits 1 over target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reconciler.load.catalog import CXONE_FIELDS, IDENTITY_MAPPINGS
from reconciler.load.desired import read_desired

TARGET_SECONDS = 2.0
_FIELDS = sorted(name for name, f in CXONE_FIELDS.items() if not f.read_only)


def connector_yaml(index: int, mappings: int) -> str:
    kind = ("SALESFORCE", "DYNAMICS", "CUSTOM")[index % 3]
    host = {
        "SALESFORCE": "acme.my.salesforce.com",
        "DYNAMICS": "acme.crm.dynamics.com",
        "CUSTOM": "crm.acme.example",
    }[kind]
    identity = IDENTITY_MAPPINGS[kind].crm_fields[0]
    lines = [
        "# yaml-language-server: $schema=../schemas/connector.schema.json",
        f"name: bench-connector-{index:04d}",
        f"description: Generated connector {index} for the validation benchmark",
        "lifecycleStatus: ACTIVE",
        f"connectorType: {kind}",
        f"endpointUrl: https://{host}/api/v{index % 9 + 1}",
        "authentication:",
        "  type: OAUTH2",
        "  credentials:",
        f"    tokenEndpoint: https://{host}/oauth2/token",
        f"    clientId: client-{index}",
        f"    clientSecret: ${{env:BENCH_SECRET_{index}}}",
        "mappings:",
        "  - cxoneField: contact.external_id",
        f"    crmField: {identity}",
        "    direction: INBOUND",
    ]
    fields = [f for f in _FIELDS if f != "contact.external_id"]
    for m in range(mappings - 1):
        lines += [
            f"  - cxoneField: {fields[(index + m) % len(fields)]}",
            f"    crmField: Field_{m}__c",
            "    direction: OUTBOUND" if m % 2 else "    direction: INBOUND",
        ]
    lines += [
        "syncSettings:",
        "  batchSize: 500",
        "  retryAttempts: 3",
        "  syncIntervalMinutes: 15",
        'version: "1.0.0"',
        "labels:",
        "  team: bench",
        "",
    ]
    return "\n".join(lines)


def generate(directory: Path, files: int, mappings: int) -> None:
    for i in range(files):
        (directory / f"connector-{i:04d}.yaml").write_text(connector_yaml(i, mappings))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--mappings", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cxrecon-bench-") as tmp:
        directory = Path(tmp) / "connectors"
        directory.mkdir()
        generate(directory, args.files, args.mappings)
        library: list[float] = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = read_desired(directory)
            library.append(time.perf_counter() - start)
            if not result.ok or len(result.connectors) != args.files:
                for d in result.diagnostics[:10]:
                    print(d, file=sys.stderr)
                print("benchmark input did not validate", file=sys.stderr)
                return 1
        cli: list[float] = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "reconciler", "validate", str(directory)],
                check=True,
                stdout=subprocess.DEVNULL,
                cwd=tmp,
                env={**os.environ, "GITHUB_ACTIONS": "false"},
            )
            cli.append(time.perf_counter() - start)
    print(f"files={args.files} mappings/file={args.mappings} cpus={os.cpu_count()}")
    print(
        f"read_desired: best {min(library):.3f} s, median {statistics.median(library):.3f} s, "
        f"worst {max(library):.3f} s"
    )
    print(
        f"cxrecon validate (end to end): best {min(cli):.3f} s, median "
        f"{statistics.median(cli):.3f} s, worst {max(cli):.3f} s"
    )
    verdict = "OK" if min(cli) <= TARGET_SECONDS else "OVER TARGET"
    print(f"target ≤ {TARGET_SECONDS:.1f} s wall end to end: {verdict}")
    return 0 if min(cli) <= TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
