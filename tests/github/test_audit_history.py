"""Drift in the workflows sees a connector deleted in CXone: the apply job keeps the
environment's audit history as an artifact, and the drift job fetches it and passes it with
--audit-log (before, drift.yml passed none, so a deletion read "No drift", exit 0)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from reconciler.cli.main import cli
from reconciler.github.audit_history import MERGED_ARTIFACTS, artifact_name, fetch_history
from reconciler.testing import RunningEmulator

from .conftest import ActionsJob, assert_no_token
from .test_workflow_files import load, step_named

CONNECTOR = """name: Kept-Connector
lifecycleStatus: ACTIVE
connectorType: CUSTOM
endpointUrl: https://crm.example/api
authentication:
  type: API_KEY
  credentials:
    apiKey: ${env:KEPT_API_KEY}
mappings:
  - cxoneField: contact.external_id
    crmField: id
    direction: INBOUND
"""


class Artifacts:
    """Artifacts as GitHub lists them; a download writes the run's audit log."""

    def __init__(self) -> None:
        self.listed: list[dict[str, object]] = []
        self.logs: dict[int, bytes] = {}
        self.downloads: list[int] = []

    def add(
        self, run_id: int, log: bytes, *, branch: str = "main", fork: bool = False, when: str = ""
    ) -> None:
        self.listed.append(
            {
                "name": artifact_name("production"),
                "expired": False,
                "created_at": when or f"2026-12-0{run_id % 9 + 1}T00:00:00Z",
                "workflow_run": {
                    "id": run_id,
                    "head_branch": branch,
                    "repository_id": 1,
                    "head_repository_id": 2 if fork else 1,
                },
            }
        )
        self.logs[run_id] = log

    def list_artifacts(self, name: str) -> list[dict[str, object]]:
        assert name == "cxrecon-audit-production"
        return list(reversed(self.listed))  # newest first, as GitHub lists them

    def download_artifact(self, run_id: int, name: str, directory: str) -> None:
        self.downloads.append(run_id)
        Path(directory).mkdir(parents=True)
        (Path(directory) / "audit-production.jsonl").write_bytes(self.logs[run_id])


def test_the_drift_job_reads_the_history_the_apply_job_keeps() -> None:
    drift = load("drift.yml")
    names = [s.get("name") for s in drift["jobs"]["drift"]["steps"]]
    assert names.index("Fetch the audit history") < names.index("Detect drift")
    fetch = step_named(drift, "Fetch the audit history")["run"]
    assert (
        'audit-history -e "$CXRECON_ENVIRONMENT" --out "audit-$CXRECON_ENVIRONMENT.jsonl"' in fetch
    )
    assert (
        '--audit-log "audit-$CXRECON_ENVIRONMENT.jsonl"' in step_named(drift, "Detect drift")["run"]
    )
    assert drift["jobs"]["drift"]["permissions"]["actions"] == "read"

    apply = load("apply-environment.yml")
    names = [s.get("name") for s in apply["jobs"]["apply"]["steps"]]
    assert names.index("Fetch the audit history") < names.index("Apply")
    assert names.index("Apply") < names.index("Keep the audit history")
    assert '--audit-log "audit-$CXRECON_ENVIRONMENT.jsonl"' in step_named(apply, "Apply")["run"]
    kept = step_named(apply, "Keep the audit history")
    assert kept["if"].startswith("always()")
    assert kept["with"]["name"] == "cxrecon-audit-${{ inputs.environment }}"
    assert kept["with"]["path"] == "audit-${{ inputs.environment }}.jsonl"


def test_histories_are_merged_oldest_first_each_line_once(tmp_path: Path) -> None:
    gh = Artifacts()
    gh.add(1, b'{"a": 1}\n')
    gh.add(2, b'{"a": 1}\n{"b": 2}\n')
    gh.add(3, b'{"a": 1}\n')  # a drift-era copy older in content: nothing is lost
    out = tmp_path / "audit.jsonl"
    found = fetch_history(gh, environment="production", branch="main", out=out)
    assert out.read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    assert found.records == 2
    assert found.runs == (3, 2, 1)


def test_other_branches_forks_and_expired_artifacts_are_not_read(tmp_path: Path) -> None:
    gh = Artifacts()
    gh.add(1, b'{"ok": 1}\n')
    gh.add(2, b'{"forged": 1}\n', branch="feature")
    gh.add(3, b'{"forged": 2}\n', fork=True)
    gh.add(4, b'{"old": 1}\n')
    gh.listed[-1]["expired"] = True
    out = tmp_path / "audit.jsonl"
    fetch_history(gh, environment="production", branch="main", out=out)
    assert out.read_bytes() == b'{"ok": 1}\n'
    assert gh.downloads == [1]


def test_only_the_newest_artifacts_are_fetched(tmp_path: Path) -> None:
    gh = Artifacts()
    for run in range(1, 9):
        gh.add(run, f'{{"run": {run}}}\n'.encode(), when=f"2026-12-07T00:00:0{run}Z")
    found = fetch_history(gh, environment="production", branch="main", out=tmp_path / "a")
    assert len(found.runs) == MERGED_ARTIFACTS
    assert found.runs[0] == 8


def test_without_any_history_an_empty_log_is_written(tmp_path: Path) -> None:
    out = tmp_path / "audit.jsonl"
    found = fetch_history(Artifacts(), environment="production", branch="main", out=out)
    assert out.read_bytes() == b""
    assert found.runs == ()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "kept.yaml").write_text(CONNECTOR, encoding="utf-8")
    (tmp_path / "cxrecon.yaml").write_text("project: team\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_connector_deleted_in_cxone_is_drift_with_the_kept_history(
    project: Path, emulator: RunningEmulator
) -> None:
    env = {
        "CXONE_BASE_URL": emulator.base_url,
        "CXONE_CLIENT_ID": "demo-client",
        "CXONE_CLIENT_SECRET": "demo-secret",
        "KEPT_API_KEY": "CANARY-kept-key",
    }
    run = CliRunner()
    applied = run.invoke(cli, ["apply", "--auto-approve", "--audit-log", "run1.jsonl"], env=env)
    assert applied.exit_code == 0, applied.output
    # The apply job's upload, then the drift job's fetch on another runner.
    gh = Artifacts()
    gh.add(1, (project / "run1.jsonl").read_bytes())
    fetched = project / "fetched.jsonl"
    fetch_history(gh, environment="production", branch="main", out=fetched)
    listed = httpx.get(
        emulator.base_url + "/crm/connectors", headers=emulator.control.auth_headers()
    )
    (connector,) = listed.json()["items"]
    emulator.control.delete(connector["id"])

    blind = run.invoke(cli, ["drift", "--audit-log", "none.jsonl"], env=env)
    assert blind.exit_code == 0, blind.output  # what drift.yml did: "No drift"
    seen = run.invoke(cli, ["drift", "--audit-log", str(fetched)], env=env)
    assert seen.exit_code == 2, seen.output
    assert "deleted in CXone" in seen.output
    assert "CANARY-kept-key" not in (fetched.read_text(encoding="utf-8") + seen.output)


def artifact(run_id: int, branch: str = "main") -> dict[str, object]:
    return {
        "name": "cxrecon-audit-production",
        "expired": False,
        "created_at": f"2026-12-0{run_id}T00:00:00Z",
        "workflow_run": {
            "id": run_id,
            "head_branch": branch,
            "repository_id": 7,
            "head_repository_id": 7,
        },
    }


def test_the_command_fetches_the_branchs_history_through_gh(job: ActionsJob) -> None:
    job.env["GITHUB_REF_NAME"] = "main"
    job.gh.respond(
        "actions/artifacts?name=cxrecon-audit-production",
        stdout={"artifacts": [artifact(2, "feature"), artifact(1)]},
    )
    job.gh.respond(
        "run", "download", "1", "--name", "cxrecon-audit-production",
        files={"{dir}/audit-production.jsonl": '{"applied": 1}\n'},
    )  # fmt: skip
    done = job.run("audit-history", "-e", "production", "--out", "audit-production.jsonl")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (job.workdir / "audit-production.jsonl").read_text(encoding="utf-8") == (
        '{"applied": 1}\n'
    )
    assert "1 record(s) from 1 run(s)" in done.stdout
    downloads = [c.argv for c in job.gh.calls() if c.argv[:2] == ["run", "download"]]
    assert [argv[2] for argv in downloads] == ["1"]  # never the feature branch's upload
    assert_no_token(done.stdout, done.stderr)


def test_no_history_yet_is_a_warning_and_an_empty_log(job: ActionsJob) -> None:
    job.env["GITHUB_REF_NAME"] = "main"
    job.gh.respond("actions/artifacts?name=cxrecon-audit-production", stdout={"artifacts": []})
    done = job.run("audit-history", "-e", "production", "--out", "audit.jsonl")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (job.workdir / "audit.jsonl").read_bytes() == b""
    assert "::warning" in done.stdout
    assert "cannot be seen until an apply keeps one" in done.stdout


def test_a_failed_lookup_fails_the_step(job: ActionsJob) -> None:
    job.env["GITHUB_REF_NAME"] = "main"
    job.gh.respond("actions/artifacts", stderr="HTTP 403: Resource not accessible", exit_code=1)
    done = job.run("audit-history", "-e", "production", "--out", "audit.jsonl")
    assert done.returncode == 1
    assert "::error" in done.stdout
    assert not (job.workdir / "audit.jsonl").exists()
