"""Fails when the tests run other versions of the runtime dependencies than a plain install
gets: CI must test what users and the Docker image run (`.ci/run`, after the test install).

pip resolves `pip install .` and `pip install '.[notify]'` afresh, as in a new virtualenv (a dry
run, nothing installed), and each package it picks is compared with the version installed here
by the README's `pip install -e '.[test]'`. A test tool that caps a runtime dependency below
its newest release makes them differ: cap that dependency in [project] too (pyproject.toml).
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata

from packaging.utils import canonicalize_name

#: What users install (README) and what the Dockerfile installs.
PLAIN = (".", ".[notify]")
#: The project itself: installed here editable, resolved there from the same tree.
OWN = "cxrecon"


def resolve(target: str) -> dict[str, str]:
    """name → version that `pip install TARGET` would install into an empty environment."""
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet"]
    command += ["--ignore-installed", "--disable-pip-version-check", "--report", "-", target]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - our own pip
    if done.returncode != 0:
        raise SystemExit(f"pip could not resolve `pip install {target}`:\n{done.stderr.strip()}")
    report = json.loads(done.stdout)
    return {
        canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
        for item in report["install"]
    }


def main() -> int:
    installed: dict[str, str] = {
        canonicalize_name(dist.metadata["Name"]): dist.version for dist in metadata.distributions()
    }
    with ThreadPoolExecutor(len(PLAIN)) as pool:
        resolved = dict(zip(PLAIN, pool.map(resolve, PLAIN), strict=True))
    differ = sorted(
        f"{name} {version} (`pip install '{target}'`) but {installed.get(name, 'none')} here"
        for target, versions in resolved.items()
        for name, version in versions.items()
        if name != OWN and installed.get(name) != version
    )
    for line in differ:
        print(f"the tests run another version than a plain install: {line}", file=sys.stderr)
    if differ:
        print(
            "a test tool caps these below what a plain install picks: cap them alike in "
            "[project] dependencies (pyproject.toml), so the tests run what ships",
            file=sys.stderr,
        )
        return 1
    count = len(set().union(*resolved.values()) - {OWN})
    print(f"the tests run the versions a plain install resolves ({count} packages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
