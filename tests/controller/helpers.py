"""Helpers for controller tests: connector files, a git repository with a bare origin, a fake
clock, and ways to look at the emulator and wait for cycles."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from reconciler.controller.loop import Controller
from reconciler.controller.report import CycleReport
from reconciler.testing import RunningEmulator

#: A secret value that must never appear in any output, file or metric.
CANARY = "canary-Zx9-secret-value-4711"
#: The controllers' environment: a connector secret, and the identity where a test's
#: cxrecon.yaml has no `project:` (the `repo` fixture's has this one).
ENVIRON = {"CRM_API_KEY": CANARY, "CXRECON_PROJECT": "controller-tests"}


def connector_yaml(
    name: str,
    *,
    description: str = "managed by git",
    status: str = "ACTIVE",
    key_var: str = "CRM_API_KEY",
) -> str:
    return f"""\
name: {name}
description: {description}
lifecycleStatus: {status}
connectorType: CUSTOM
endpointUrl: https://crm.example/{name.lower()}
authentication:
  type: API_KEY
  credentials:
    apiKey: ${{env:{key_var}}}
    headerName: X-Api-Key
mappings:
  - cxoneField: contact.external_id
    crmField: id
    direction: INBOUND
"""


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
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


@dataclass
class ConnectorsRepo:
    """`origin` (bare), `checkout` (what the controller pulls) and `author` (where tests commit)."""

    origin: Path
    checkout: Path
    author: Path
    project: str = "connectors: connectors/\n"
    _files: dict[str, str] = field(default_factory=dict)

    def commit(self, files: dict[str, str | None], message: str = "change") -> str:
        """Write (None: delete) files in the author clone, commit and push to origin."""
        for rel, text in files.items():
            path = self.author / rel
            if text is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        git(self.author, "add", "-A")
        git(self.author, "commit", "-q", "-m", message)
        git(self.author, "push", "-q", "origin", "main")
        return git(self.author, "rev-parse", "HEAD")

    def head(self) -> str:
        return git(self.checkout, "rev-parse", "HEAD")


class FakeClock:
    """Wall time fixed unless moved; monotonic time real plus whatever tests skip ahead."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.wall = now or dt.datetime(2025, 6, 2, 12, 0, tzinfo=dt.UTC)
        self.skipped = 0.0

    def now(self) -> dt.datetime:
        return self.wall

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped

    def skip(self, seconds: float) -> None:
        self.skipped += seconds
        self.wall += dt.timedelta(seconds=seconds)


async def cycles_until(
    controller: Controller,
    done: Callable[[CycleReport], bool],
    *,
    after: int,
    limit: int = 6,
    within: float = 20.0,
) -> CycleReport:
    """The first report after cycle `after` for which `done` holds (at most `limit` cycles)."""
    deadline = time.monotonic() + within
    number = after
    while number < after + limit:
        number += 1
        report = await asyncio.wait_for(
            controller.wait_for_cycle(number), max(0.1, deadline - time.monotonic())
        )
        if done(report):
            return report
    raise AssertionError(f"no cycle in {after + 1}..{number} satisfied the condition")


def remote_connectors(emulator: RunningEmulator) -> dict[str, dict[str, Any]]:
    """Every connector in the emulator, by name, as the API returns it."""
    headers = emulator.control.auth_headers()
    # A generous timeout: the emulator shares a loaded machine with the controller under test.
    url = f"{emulator.base_url}/crm/connectors?top=100"
    response = httpx.get(url, headers=headers, timeout=60.0)
    response.raise_for_status()
    return {c["name"]: c for c in response.json()["items"]}


def writes_seen(emulator: RunningEmulator) -> int:
    """Successful creates and patches the emulator answered (admin edits excluded)."""
    stats = emulator.control.stats()["requests"]
    creates = stats.get("POST /api/v2/crm/connectors", {})
    patches = stats.get("PATCH /api/v2/crm/connectors/{id}", {})
    return sum(n for status, n in (*creates.items(), *patches.items()) if status.startswith("2"))


ControllerFactory = Callable[..., Controller]
