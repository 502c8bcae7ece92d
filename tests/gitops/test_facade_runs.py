"""The facade's one-shot runs called from Python, as the CLI calls them: a plan against the
tenant, drift and its write-back, a dump, a CRM data sync, the secrets a project needs and
validation — each without click, against the emulator on a real port."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from reconciler.config.project import EnvironmentConfig
from reconciler.config.settings import ConnectionSettings
from reconciler.errors import ConfigError, CxreconError
from reconciler.facade import open_project
from reconciler.facade.drifting import adopt_drift, drift_report
from reconciler.facade.dumping import dump_into
from reconciler.facade.oneshot import PlanRequest, TenantOpener, audit_log_at, plan_once
from reconciler.facade.planning import secrets_for
from reconciler.facade.secrets_needed import secrets_needed
from reconciler.facade.syncing import SyncOrder, SyncRun, poll_policy, sync_connector
from reconciler.facade.validating import validate_desired, validation_scope
from reconciler.testing import RunningEmulator

from .helpers import API_KEY, PASSWORD


def opener(emulator: RunningEmulator, seen: list[str] | None = None) -> TenantOpener:
    @contextmanager
    def opened(env: EnvironmentConfig) -> Iterator[ConnectionSettings]:
        if seen is not None:
            seen.append(env.name)
        yield ConnectionSettings.for_emulator(emulator.base_url)

    return opened


def unreachable(env: EnvironmentConfig) -> Iterator[ConnectionSettings]:
    raise ConfigError("CXONE_BASE_URL is not set")


def test_plan_once_plans_against_the_tenant_it_is_given(
    project: Path, emulator: RunningEmulator
) -> None:
    seen: list[str] = []
    planned = plan_once(open_project(), PlanRequest(cache=False), opener(emulator, seen))
    assert seen == ["local"]
    assert {c.action.value for c in planned.run.plan.changes} == {"create"}
    assert planned.label == "local"
    assert planned.cache is None
    assert planned.stats is not None
    assert planned.stats.get("list_connectors").requests == 1


def test_the_desired_states_errors_come_before_an_unreachable_tenant(project: Path) -> None:
    (project / "connectors" / "broken.yaml").write_text("name: [\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        plan_once(open_project(), PlanRequest(cache=False), contextmanager(unreachable))
    assert "broken.yaml" in str(raised.value)
    (project / "connectors" / "broken.yaml").unlink()
    with pytest.raises(ConfigError, match="CXONE_BASE_URL"):
        plan_once(open_project(), PlanRequest(cache=False), contextmanager(unreachable))


def test_drift_is_adopted_into_the_files_and_the_exit_code_says_so(
    project: Path, emulator: RunningEmulator, applied: dict[str, str]
) -> None:
    emulator.control.edit(applied["Support-Desk"], {"description": "edited in CXone"})
    planned = plan_once(open_project(), PlanRequest(cache=False), opener(emulator))
    report = drift_report(planned)
    assert [c.name for c in report.connectors] == ["Support-Desk"]
    assert report.exit_code == 2
    adoption = adopt_drift(report, planned)
    assert adoption.exit_code == 0
    assert [a.path for a in adoption.result.adopted] == ["description"]
    assert "edited in CXone" in (project / "connectors" / "support-desk.yaml").read_text()
    again = plan_once(open_project(), PlanRequest(cache=False), opener(emulator))
    assert drift_report(again).exit_code == 0


def test_dump_into_writes_loads_back_and_copies_the_schema(
    project: Path, emulator: RunningEmulator, applied: dict[str, str]
) -> None:
    run = dump_into(open_project(), project / "dumped", opener(emulator))
    assert sorted(f.connector for f in run.dump.files) == sorted(applied)
    assert sorted(p.name for p in run.written.paths) == sorted(
        [f.file_name for f in run.dump.files] + [".env.example"]
    )
    assert run.env_example == project / "dumped" / ".env.example"
    assert run.findings == ()
    assert run.schema_written == "schemas/connector.schema.json"
    assert (project / "schemas" / "connector.schema.json").is_file()
    texts = "".join(p.read_text() for p in run.written.paths)
    assert API_KEY not in texts
    assert PASSWORD not in texts
    with pytest.raises(CxreconError, match="already exist"):
        dump_into(open_project(), project / "dumped", opener(emulator))


def test_a_sync_by_name_is_recorded_in_the_audit_log(
    project: Path, emulator: RunningEmulator, applied: dict[str, str]
) -> None:
    project_ = open_project()
    policy = poll_policy(project_, base=0.01, cap=0.05)
    log = audit_log_at(project_.root, None)

    async def sync(name: str) -> SyncRun:
        return await sync_connector(
            project_,
            ConnectionSettings.for_emulator(emulator.base_url),
            SyncOrder(name),
            policy=policy,
            audit_log=log,
            environment=None,
        )

    run = asyncio.run(sync("Support-Desk"))
    assert run.outcome.status == "COMPLETED"
    assert run.audit_failure is None
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["action"] for r in records if r.get("command") == "sync"][-1:] == ["sync"]
    with pytest.raises(CxreconError, match="INACTIVE; syncs only run on ACTIVE"):
        asyncio.run(sync("Legacy-Tickets"))
    with pytest.raises(CxreconError, match="no connector named 'nope'"):
        asyncio.run(sync("nope"))


def test_poll_policy_takes_flags_over_the_project_and_names_both_when_wrong(
    project: Path,
) -> None:
    project_ = open_project()
    policy = poll_policy(project_, attempts=3)
    assert policy.max_attempts == 3
    assert policy.base_seconds == project_.sync_poll.base_seconds
    with pytest.raises(ConfigError, match="--poll-\\* flags and syncPoll"):
        poll_policy(project_, base=5, cap=1)


def test_secrets_needed_says_what_resolves_here_and_never_the_value(project: Path) -> None:
    project_ = open_project()
    environ = {"GITOPS_SUPPORT_API_KEY": API_KEY}
    listed = secrets_needed(project_, secrets_for(project_, environ=environ), environ)
    (env,) = listed
    status = {r.text: r.status for r in env.references}
    assert status == {
        "${env:GITOPS_LEGACY_PASSWORD}": "not set",
        "${env:GITOPS_SUPPORT_API_KEY}": "set",
    }
    assert [c.name for c in env.connection] == ["CXONE_CLIENT_SECRET"]
    assert API_KEY not in repr(listed)


def test_validation_checks_the_project_then_every_environment(project: Path) -> None:
    scope = validation_scope()
    assert scope.env is not None
    assert scope.env.name == "local"
    first = validate_desired(scope)
    assert first.ok
    assert first.loaded.connectors
    assert first.violations == ()
    assert first.cache_misses == len(first.loaded.files)
    second = validate_desired(scope)
    assert (second.cache_hits, second.cache_misses) == (len(first.loaded.files), 0)
    assert validate_desired(scope, cache=False).cache_hits is None
    (project / "cxrecon.yaml").write_text("environments: [\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        validation_scope()
