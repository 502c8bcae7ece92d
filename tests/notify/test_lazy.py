"""Apprise is imported only to send: help, validation and a run with nothing to tell start
without it (a fresh interpreter, so nothing imported by other tests counts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import add_notifications

_RUN = """
import json, sys
from reconciler.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"exit": code, "apprise": "apprise" in sys.modules}), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [("--help",), ("notify", "--help"), ("notify", "test", "--help"), ("validate",)],
    ids=" ".join,
)
def test_apprise_is_not_imported_until_something_is_sent(
    project: Path, args: tuple[str, ...]
) -> None:
    add_notifications(
        project,
        "notifications:\n  - name: chat\n    url: json://127.0.0.1:9/x\n    events: [drift]\n",
    )
    done = subprocess.run(
        [sys.executable, "-c", _RUN, *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "GITOPS_SUPPORT_API_KEY": "k", "GITOPS_LEGACY_PASSWORD": "p"},
    )
    report = json.loads(done.stderr.rstrip().rsplit("\n", 1)[-1])
    assert report == {"exit": 0, "apprise": False}, done.stdout + done.stderr
