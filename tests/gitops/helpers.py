"""Shared constants and helpers of the GitOps tests (the fixtures are in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from click.testing import Result

from reconciler.testing import RunningEmulator

PROJECT = Path(__file__).parent / "fixtures" / "project"
#: Canary secrets: none may ever appear in a file or an output.
API_KEY = "CANARY-gitops-api-key-7f3e"
PASSWORD = "CANARY-gitops-password-19ab"

Run = Callable[..., Result]


def cli_env(emulator: RunningEmulator) -> dict[str, str]:
    return {
        "CXONE_BASE_URL": emulator.base_url,
        "CXONE_CLIENT_ID": "demo-client",
        "CXONE_CLIENT_SECRET": "demo-secret",
        "GITOPS_SUPPORT_API_KEY": API_KEY,
        "GITOPS_LEGACY_PASSWORD": PASSWORD,
        "NO_COLOR": "1",
        "GITHUB_STEP_SUMMARY": "",
    }


def remote_ids(emulator: RunningEmulator) -> dict[str, str]:
    response = httpx.get(
        emulator.base_url + "/crm/connectors",
        params={"top": 100},
        headers=emulator.control.auth_headers(),
    )
    response.raise_for_status()
    return {item["name"]: item["id"] for item in response.json()["items"]}
