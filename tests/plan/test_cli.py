"""`cxrecon plan` end to end against the emulator on a real port."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from reconciler.cli.main import cli
from reconciler.config.project import load_project
from reconciler.config.settings import ConnectionSettings
from reconciler.cxone.client import CxoneClient
from reconciler.errors import StaleSavedPlanError
from reconciler.facade import load_desired, secrets_for
from reconciler.hashing import desired_state_digest
from reconciler.model import (
    LABEL_APPLIED_DIGEST,
    LABEL_CREDENTIALS_FINGERPRINT,
    LABEL_MANAGED_BY,
    LABEL_PROJECT,
    MANAGED_BY_VALUE,
    RemoteConnector,
)
from reconciler.plan.build import build_plan
from reconciler.plan.credentials import CredentialChecker
from reconciler.plan.essence import applied_digest, create_body
from reconciler.plan.saved import read, verify
from reconciler.testing import RunningEmulator

FIXTURES = Path(__file__).parents[1] / "fixtures" / "plan" / "connectors"
SCHEMA = json.loads(
    (Path(__file__).parents[2] / "schemas" / "plan.schema.json").read_text(encoding="utf-8")
)
API_KEY = "CANARY-api-key-0b9d2e"
PASSWORD = "CANARY-password-51c7aa"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(FIXTURES, tmp_path / "connectors")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def env_for(emulator: RunningEmulator, **extra: str) -> dict[str, str]:
    return {
        "CXONE_BASE_URL": emulator.base_url,
        "CXONE_CLIENT_ID": "demo-client",
        "CXONE_CLIENT_SECRET": "demo-secret",
        "PLAN_TEST_API_KEY": API_KEY,
        "PLAN_TEST_PASSWORD": PASSWORD,
        "NO_COLOR": "1",
        "GITHUB_STEP_SUMMARY": "",
        **extra,
    }


def run_plan(emulator: RunningEmulator, *args: str, **extra: str) -> Result:
    return CliRunner().invoke(cli, ["plan", *args], env=env_for(emulator, **extra))


def seed_as_applied(emulator: RunningEmulator, workdir: Path) -> dict[str, str]:
    """Put the fixtures in the emulator exactly as `cxrecon apply` would leave them."""
    project = load_project(workdir)
    loaded = load_desired(project)
    environ = {"PLAN_TEST_API_KEY": API_KEY, "PLAN_TEST_PASSWORD": PASSWORD}
    checker = CredentialChecker(lookup=secrets_for(project, environ=environ))
    plan = build_plan(
        loaded.connectors,
        [],
        limits=project.safety,
        checker=checker,
        desired_digest=loaded.digest,
    )
    ids: dict[str, str] = {}
    for change in plan.changes:
        assert change.desired is not None
        auth = change.desired.spec.authentication
        plain = checker.resolve_all(auth.credentials)
        assert plain is not None
        fingerprint = checker.fingerprint(auth.type, auth.credentials, plain)
        assert change.desired_essence is not None
        labels = {
            LABEL_MANAGED_BY: MANAGED_BY_VALUE,
            LABEL_PROJECT: project.project_id or "",
            LABEL_APPLIED_DIGEST: applied_digest(change.desired_essence),
            LABEL_CREDENTIALS_FINGERPRINT: fingerprint,
        }
        body: dict[str, Any] = create_body(change.desired_essence, plain, labels)
        body["lifecycleStatus"] = change.desired.spec.lifecycle_status
        ids[change.name] = emulator.control.seed(body)["id"]
    return ids


def test_plan_against_an_empty_tenant_creates_everything(
    emulator: RunningEmulator, workdir: Path
) -> None:
    result = run_plan(emulator, "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert result.stdout.startswith("Plan: 2 to create, 0 unchanged.")
    assert "+ create Support-Desk (DRAFT → ACTIVE)" in result.stdout
    assert API_KEY not in result.output


def test_applied_state_plans_as_no_changes(emulator: RunningEmulator, workdir: Path) -> None:
    seed_as_applied(emulator, workdir)
    result = run_plan(emulator, "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("No changes. Plan: 2 unchanged.")
    plain = run_plan(emulator)
    assert plain.exit_code == 0


def test_one_file_is_a_subset_so_other_managed_connectors_are_not_orphans(
    emulator: RunningEmulator, workdir: Path
) -> None:
    seed_as_applied(emulator, workdir)
    whole = run_plan(emulator, "--detailed-exitcode", "--prune")
    assert whole.exit_code == 0, whole.output  # the baseline: nothing orphaned

    one = run_plan(emulator, "--detailed-exitcode", "connectors/billing.yaml")
    assert one.exit_code == 0, one.output
    assert "orphan" not in one.stdout
    assert one.stdout.startswith("No changes. Plan: 1 unchanged.")

    # With the whole directory, the connector missing from git is an orphan...
    (workdir / "connectors" / "support-desk.yaml").unlink()
    orphaned = run_plan(emulator)
    assert "orphan Support-Desk" in orphaned.stdout, orphaned.stdout


def test_prune_with_one_file_is_refused(emulator: RunningEmulator, workdir: Path) -> None:
    seed_as_applied(emulator, workdir)
    for command in ("plan", "apply"):
        result = CliRunner().invoke(
            cli,
            [command, "--prune", "connectors/billing.yaml"],
            env=env_for(emulator),
        )
        assert result.exit_code == 1, result.output
        assert "--prune needs the whole connectors directory" in result.stderr
        assert "connectors/billing.yaml is one file" in result.stderr
    # refused before any connection: the emulator saw only the test's own seeding
    assert set(emulator.control.stats()["requests"]) == {"POST /_emulator/connectors"}


def test_out_of_band_edit_shows_as_drift_in_every_format(
    emulator: RunningEmulator, workdir: Path
) -> None:
    ids = seed_as_applied(emulator, workdir)
    emulator.control.edit(ids["Support-Desk"], {"endpointUrl": "https://other.example.com/x"})
    text = run_plan(emulator, "--detailed-exitcode")
    assert text.exit_code == 2, text.output
    assert "~ update Support-Desk [drift]" in text.stdout
    assert "endpointUrl" in text.stdout

    as_json = run_plan(emulator, "--format", "json")
    assert as_json.exit_code == 0
    document = json.loads(as_json.stdout)
    jsonschema.validate(document, SCHEMA)
    [change] = document["changes"]
    assert change["origin"] == "drift"
    assert change["credentials"]["status"] == "unchanged"

    md = run_plan(emulator, "--format", "markdown")
    assert "<details><summary>~ update Support-Desk [drift]" in md.stdout
    for output in (text.output, as_json.output, md.output):
        assert API_KEY not in output
        assert PASSWORD not in output


def test_rotated_secret_is_seen_only_when_the_environment_has_it(
    emulator: RunningEmulator, workdir: Path
) -> None:
    seed_as_applied(emulator, workdir)
    rotated = run_plan(emulator, "--detailed-exitcode", PLAN_TEST_API_KEY="a-brand-new-key")
    assert rotated.exit_code == 2
    assert "credentials: rotated" in rotated.stdout
    unknown = run_plan(emulator, "--detailed-exitcode", "--show-unchanged", PLAN_TEST_API_KEY="")
    assert unknown.exit_code == 0
    assert "credentials: unknown (secret values not available" in unknown.stdout


def test_deactivating_an_active_connector_is_over_the_gate(
    emulator: RunningEmulator, workdir: Path
) -> None:
    seed_as_applied(emulator, workdir)
    path = workdir / "connectors" / "billing.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "lifecycleStatus: ACTIVE", "lifecycleStatus: INACTIVE"
        ),
        encoding="utf-8",
    )
    result = run_plan(emulator, "--detailed-exitcode")
    assert result.exit_code == 3, result.output
    assert "Safety gate: OVER" in result.stdout
    assert "v deactivate Billing (ACTIVE → INACTIVE)" in result.stdout


def test_going_back_to_draft_fails_the_plan(emulator: RunningEmulator, workdir: Path) -> None:
    seed_as_applied(emulator, workdir)
    path = workdir / "connectors" / "billing.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "lifecycleStatus: ACTIVE", "lifecycleStatus: DRAFT"
        ),
        encoding="utf-8",
    )
    result = run_plan(emulator, "--detailed-exitcode")
    assert result.exit_code == 1
    assert "connectors/billing.yaml:3:18" in result.stdout
    assert "never returns to DRAFT" in result.stdout


def test_invalid_desired_state_is_refused_with_its_diagnostics(
    emulator: RunningEmulator, workdir: Path
) -> None:
    (workdir / "connectors" / "broken.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    result = run_plan(emulator, "--detailed-exitcode")
    assert result.exit_code == 1
    assert "connectors/broken.yaml:2:1: error: YAML syntax error" in result.stderr
    assert "Traceback" not in result.output


def test_saved_plan_goes_stale_when_the_connector_changes(
    emulator: RunningEmulator, workdir: Path
) -> None:
    ids = seed_as_applied(emulator, workdir)
    path = workdir / "connectors" / "billing.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("2.1.0", "2.2.0"), encoding="utf-8")
    result = run_plan(emulator, "--out", "plan.json", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    saved = read(workdir / "plan.json")
    assert [e.name for e in saved.entries] == ["Billing"]
    text = (workdir / "plan.json").read_text(encoding="utf-8")
    assert API_KEY not in text
    assert PASSWORD not in text

    emulator.control.edit(ids["Billing"], {"description": "touched by hand"})
    project = load_project(workdir)
    loaded = load_desired(project)

    async def fetch() -> list[RemoteConnector]:
        settings = ConnectionSettings.for_emulator(emulator.base_url)
        async with CxoneClient(settings) as client:
            return list(await client.list_connectors())

    remote = asyncio.run(fetch())
    with pytest.raises(StaleSavedPlanError) as caught:
        verify(
            saved,
            desired_digest=desired_state_digest(loaded.connectors, loaded.environment),
            remote=remote,
            checker=CredentialChecker(lookup=None),
        )
    assert caught.value.connectors == ("Billing",)
