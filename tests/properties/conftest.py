"""Hypothesis profiles of the property tests and the emulator they run against.

`long` (select it with `pytest tests/properties --hypothesis-profile long`, or with
CXRECON_PROPERTY_PROFILE=long) runs the slow-marked long convergence test; the default
budget runs in the ordinary test run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from reconciler.emulator.config import EmulatorConfig
from reconciler.testing import start_emulator

from .machine import Harness

#: Shared by both budgets: reproducible (derandomized, no example database), no deadline
#: (a step is a whole plan or apply over HTTP).
COMMON = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=False,
)
DEFAULT_PROFILE = settings(COMMON, max_examples=10, stateful_step_count=40)
settings.register_profile("long", settings(COMMON, max_examples=100, stateful_step_count=60))

PROFILE_VARIABLE = "CXRECON_PROPERTY_PROFILE"


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    """One emulator on a real port for the whole test; each example resets it."""
    config = EmulatorConfig(fault_retry_after_s=0, burst_429_length=1, slow_ms=20)
    emulator = start_emulator(tmp_path / "emulator.sqlite", config)
    try:
        yield Harness(emulator, tmp_path / "examples")
    finally:
        emulator.stop()
