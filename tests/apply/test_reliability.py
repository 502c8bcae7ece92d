"""Reliability under a hostile tenant: 300 connectors against an emulator with 20% faults
(commit-then-drop included), 5-second tokens and 100 requests/s — apply converges in at most
two runs, the tenant then equals git exactly, with no duplicate and no secret anywhere.

The injected faults are 500/502/503, connection resets, slow answers and commit-then-drop;
429s come from the emulator's real token bucket at 100 requests/s rather than from injected
bursts, whose 1 s Retry-After pauses every worker and would make this test minutes long
without exercising anything the real limiter does not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.emulator.config import EmulatorConfig
from reconciler.model import LABEL_APPLIED_DIGEST, LABEL_MANAGED_BY
from reconciler.testing import RunningEmulator

from .helpers import (
    CANARY_KEY,
    Project,
    all_text_files,
    connection_env,
    connector_doc,
    remote_connectors,
    run_cli,
)

COUNT = 300

EmulatorFactory = Callable[..., RunningEmulator]


def lifecycle_for(index: int) -> str:
    return ("ACTIVE", "ACTIVE", "ACTIVE", "INACTIVE", "DRAFT")[index % 5]


@pytest.mark.slow
def test_apply_converges_under_faults_rate_limits_and_token_expiry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_factory: EmulatorFactory
) -> None:
    emulator = emulator_factory(
        EmulatorConfig(
            fault_rate=0.2,
            token_ttl=5,
            rate_limit=100,
            seed=20240611,
            fault_kinds=("500", "502", "503", "reset", "slow", "drop"),
            # A "slow" fault answers after 1.5 s, past the client's 1 s timeout.
            slow_ms=1500,
        )
    )
    root = tmp_path / "repo"
    project = Project(root)
    root.mkdir()
    monkeypatch.chdir(root)
    for name, value in {**connection_env(emulator.base_url), "CXONE_TIMEOUT": "1"}.items():
        monkeypatch.setenv(name, value)
    desired = {
        f"Conn-{i:03d}": connector_doc(f"Conn-{i:03d}", lifecycleStatus=lifecycle_for(i))
        for i in range(COUNT)
    }
    for doc in desired.values():
        project.write(doc)

    outputs = []
    for _ in range(2):
        result = run_cli(["apply", "--auto-approve", "--parallelism", "8"])
        outputs.append(result.output)
        if result.exit_code == 0:
            break
    assert result.exit_code == 0, result.output[-3000:]
    assert emulator.control.stats()["faults"].get("drop", 0) > 0

    emulator.control.faults(faultRate=0.0)
    remote = remote_connectors(emulator.control)
    names = [c["name"] for c in remote]
    assert len(names) == len(set(names)) == COUNT  # no duplicate, nothing missing
    assert set(names) == set(desired)
    for connector in remote:
        want = desired[connector["name"]]
        assert connector["lifecycleStatus"] == want["lifecycleStatus"]
        assert connector["endpointUrl"] == want["endpointUrl"]
        assert connector["labels"][LABEL_MANAGED_BY] == "cxrecon"
        assert connector["labels"][LABEL_APPLIED_DIGEST]
    # The planner agrees: nothing left to do.
    check = run_cli(["plan", "--detailed-exitcode"])
    assert check.exit_code == 0, check.output[-2000:]

    for text in outputs:
        assert CANARY_KEY not in text
    for path, text in all_text_files(root):
        assert CANARY_KEY not in text, path
