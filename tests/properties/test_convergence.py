"""Issue 12: convergence proved as a property of plan/apply, not by examples (machine.py).

The default budget runs with the rest of the tests; the long one is marked slow and runs
with `pytest tests/properties --hypothesis-profile long` (or CXRECON_PROPERTY_PROFILE=long).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from .conftest import DEFAULT_PROFILE, PROFILE_VARIABLE
from .machine import ConvergenceMachine, Harness


def machine_on(harness: Harness) -> type[ConvergenceMachine]:
    """The machine bound to this test's emulator (hypothesis builds one per example)."""

    class OnThisEmulator(ConvergenceMachine):
        def __init__(self) -> None:
            super().__init__(harness)

    return OnThisEmulator


def _summary(harness: Harness) -> str:
    seen = ", ".join(f"{k}: {v}" for k, v in sorted(harness.seen.items()))
    return f"{harness.examples} examples; {seen}"


@pytest.mark.timeout(900)  # a failure shrinks for up to 5 minutes
def test_plan_and_apply_converge(harness: Harness) -> None:
    run_state_machine_as_test(machine_on(harness), settings=DEFAULT_PROFILE)
    print(_summary(harness))


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_plan_and_apply_converge_long(harness: Harness) -> None:
    if "long" not in (settings.get_current_profile_name(), os.environ.get(PROFILE_VARIABLE)):
        pytest.skip(f"the long budget: --hypothesis-profile long or {PROFILE_VARIABLE}=long")
    run_state_machine_as_test(machine_on(harness), settings=settings.get_profile("long"))
    print(_summary(harness))
