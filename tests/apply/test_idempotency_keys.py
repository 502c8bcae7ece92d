"""Idempotency-Key on create (issue 12 item 1): a key names one exact request. The client's
own replays of one POST carry it; a new attempt (a new body: fresh credential salt, a new
applied-at) gets a new key, so re-running apply always converges and never meets a 422
idempotency_key_reused; duplicates are prevented by the lookup by name, not by the key."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from reconciler.apply.idempotency import idempotency_key
from reconciler.apply.results import ConnectorResult, Outcome
from reconciler.config.settings import ConnectionSettings
from reconciler.cxone.client import CxoneClient
from reconciler.cxone.errors import CxoneApiError
from reconciler.plan.changes import Plan
from reconciler.testing import RunningEmulator

from .helpers import CANARY_KEY, Project, apply_with_hook, connector_doc, remote_connectors, run_cli


def body(**labels: str) -> dict[str, Any]:
    return {
        "name": "Alpha",
        "connectorType": "CUSTOM",
        "endpointUrl": "https://alpha.crm.example/api",
        "authentication": {"type": "API_KEY", "credentials": {"apiKey": CANARY_KEY}},
        "mappings": [{"cxoneField": "contact.email", "crmField": "email", "direction": "INBOUND"}],
        "labels": {"cxrecon.io/managed-by": "cxrecon", **labels},
    }


def test_a_key_names_one_exact_request() -> None:
    key = idempotency_key(body(at="1"), "prod", "Alpha")

    assert key == idempotency_key(body(at="1"), "prod", "Alpha")  # a replay: the same key
    assert key != idempotency_key(body(at="2"), "prod", "Alpha")  # another body: another key
    assert key != idempotency_key(body(at="1"), "test", "Alpha")
    assert key != idempotency_key(body(at="1"), None, "Alpha")
    assert key.startswith("cxrecon-")
    assert 8 < len(key) <= 255
    assert key.isascii()
    assert key.isprintable()


def test_the_key_is_not_a_fast_hash_of_a_secret() -> None:
    # Credential values are left out: the fingerprint label (slow, salted) stands for them,
    # so a key seen in a proxy log does not let anyone test guesses of the secret.
    other = body(at="1")
    other["authentication"]["credentials"]["apiKey"] = "another-secret-value"

    assert idempotency_key(body(at="1"), "prod", "Alpha") == idempotency_key(other, "prod", "Alpha")


def remote_id(emulator: RunningEmulator, name: str) -> str:
    return next(str(c["id"]) for c in remote_connectors(emulator.control) if c["name"] == name)


def test_a_connector_deleted_in_cxone_is_created_again_on_every_rerun(
    project: Project, emulator: RunningEmulator
) -> None:
    project.write(connector_doc("Alpha"))
    assert run_cli(["apply", "--auto-approve"]).exit_code == 0

    for attempt in range(3):
        emulator.control.delete(remote_id(emulator, "Alpha"))

        result = run_cli(["apply", "--auto-approve"])

        assert result.exit_code == 0, (attempt, result.output)
        assert "idempotency_key_reused" not in result.output
        remote = remote_connectors(emulator.control)
        assert [(c["name"], c["lifecycleStatus"]) for c in remote] == [("Alpha", "ACTIVE")]
    assert "No changes" in run_cli(["apply", "--auto-approve"]).output


def test_two_identical_applies_at_once_both_converge_on_one_connector(
    project: Project, emulator: RunningEmulator
) -> None:
    project.write(connector_doc("Alpha"))
    both_planned = threading.Barrier(2, timeout=30)
    results: dict[int, tuple[ConnectorResult, ...]] = {}
    errors: list[BaseException] = []

    def wait_for_the_other(plan: Plan) -> None:
        assert [c.action.value for c in plan.changes] == ["create"]
        both_planned.wait()  # both planned a create before either wrote

    def apply(index: int) -> None:
        try:
            _, results[index] = asyncio.run(
                apply_with_hook(project, emulator, wait_for_the_other, parallelism=1)
            )
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)

    threads = [threading.Thread(target=apply, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not errors, errors
    outcomes = [r.outcome for (r,) in results.values()]
    assert all(o is not Outcome.FAILED for o in outcomes), [r.reason for (r,) in results.values()]
    remote = remote_connectors(emulator.control)
    assert [(c["name"], c["lifecycleStatus"]) for c in remote] == [("Alpha", "ACTIVE")]
    assert "No changes" in run_cli(["apply", "--auto-approve"]).output


def test_a_reused_key_is_never_blamed_on_the_connector_definition(
    emulator: RunningEmulator,
) -> None:
    async def clash() -> CxoneApiError:
        settings = ConnectionSettings.for_emulator(emulator.base_url)
        async with CxoneClient(settings) as client:
            await client.create_connector(body(at="1"), idempotency_key="cxrecon-same")
            with pytest.raises(CxoneApiError) as caught:
                await client.create_connector(body(at="2"), idempotency_key="cxrecon-same")
            return caught.value

    error = asyncio.run(clash())

    assert error.status == 422
    assert "idempotency_key_reused" in str(error)
    assert "fix the connector definition" not in str(error)
    assert "Idempotency-Key" in error.hint
