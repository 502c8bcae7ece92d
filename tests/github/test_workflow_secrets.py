"""Which secrets each workflow job holds (issue 13).

A pull request from a branch of the same repository runs its own, possibly edited, copy of
the workflow; a scheduled or by-hand drift check needs no write access either. Those jobs
get only the read-only CXone client and no connector secret: a plan shows credentials as
`unknown` without them, and drift cannot read them back from CXone anyway. Connector secrets
live only in the apply job, behind the protected `sandbox`/`production` environments."""

from __future__ import annotations

import os
import re
import subprocess
from typing import Any

import pytest
import yaml

from .test_workflow_files import ROOT, WORKFLOWS, load, step_named

#: Triggers whose jobs run code or a workflow copy nobody has reviewed yet, or need no writes.
UNTRUSTED_TRIGGERS = {"pull_request", "pull_request_target", "schedule", "workflow_run"}
READ_ONLY_CXONE = {"CXONE_READONLY_CLIENT_ID", "CXONE_READONLY_CLIENT_SECRET"}
SECRET = re.compile(r"secrets\.([A-Za-z_][A-Za-z0-9_]*)")
REFERENCE = re.compile(r"\$\{(env|file):([^}]+)\}")
#: The command the workflows' comments give for listing the references a project makes.
LIST_REFERENCES = "grep -rhoE '\\$\\{(env|file):[^}]+\\}' connectors/ | sort -u"


def references(kind: str) -> set[str]:
    return {
        name
        for path in (ROOT / "connectors").glob("*.yaml")
        for found_kind, name in REFERENCE.findall(path.read_text(encoding="utf-8"))
        if found_kind == kind
    }


def untrusted_workflows() -> list[str]:
    names = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        if set(load(path.name)["on"]) & UNTRUSTED_TRIGGERS:
            names.append(path.name)
    return names


def env_keys(job: dict[str, Any]) -> set[str]:
    keys = set(job.get("env", {}))
    for step in job.get("steps", []):
        keys |= set(step.get("env", {}))
    return keys


def test_the_sample_connectors_reference_env_and_file_secrets() -> None:
    assert references("env") == {
        "LEGACY_TICKETING_PASSWORD",
        "SALESFORCE_CLIENT_SECRET",
        "SUPPORT_DESK_API_KEY",
    }
    assert references("file") == {".secrets/dynamics-client-secret"}


def test_plan_and_drift_are_among_the_untrusted_workflows() -> None:
    assert {"plan.yml", "drift.yml"} <= set(untrusted_workflows())


@pytest.mark.parametrize("name", untrusted_workflows())
def test_pull_request_and_scheduled_jobs_hold_no_connector_secret(name: str) -> None:
    for job_name, job in load(name)["jobs"].items():
        text = yaml.safe_dump(job)
        held = set(SECRET.findall(text))
        assert held <= READ_ONLY_CXONE, f"{name} job {job_name} holds {held - READ_ONLY_CXONE}"
        assert job.get("secrets") is None, f"{name} job {job_name} passes secrets on"
        leaked = env_keys(job) & references("env")
        assert not leaked, f"{name} job {job_name} sets connector secrets {leaked}"
        for path in references("file"):
            assert path not in text, f"{name} job {job_name} writes the secret file {path}"


@pytest.mark.parametrize(("name", "step"), [("plan.yml", "Plan"), ("drift.yml", "Detect drift")])
def test_plan_and_drift_talk_to_cxone_with_the_read_only_client(name: str, step: str) -> None:
    env = step_named(load(name), step)["env"]
    assert env["CXONE_CLIENT_ID"] == "${{ secrets.CXONE_READONLY_CLIENT_ID }}"
    assert env["CXONE_CLIENT_SECRET"] == "${{ secrets.CXONE_READONLY_CLIENT_SECRET }}"
    header = (WORKFLOWS / name).read_text(encoding="utf-8").split("\nname:", 1)[0]
    assert "CXONE_READONLY_CLIENT_ID" in header
    assert "CXONE_READONLY_CLIENT_SECRET" in header


def test_only_the_apply_step_maps_every_reference_the_sample_connectors_make() -> None:
    apply = step_named(load("apply-environment.yml"), "Apply")
    assert references("env") <= set(apply["env"])
    for name in references("env"):
        assert apply["env"][name] == f"${{{{ secrets.{name} }}}}"
    for path in references("file"):
        assert path in apply["run"], f"the Apply step does not write {path}"


def test_the_apply_header_lists_each_environments_connector_secrets() -> None:
    header = (WORKFLOWS / "apply-environment.yml").read_text(encoding="utf-8")
    header = header.split("\nname:", 1)[0]
    for environment in ("sandbox", "production"):
        (line,) = [x for x in header.splitlines() if x.startswith(f"#              {environment}:")]
        for name in references("env"):
            assert name in line
        assert "DYNAMICS_CLIENT_SECRET (written to .secrets/dynamics-client-secret)" in line


def test_the_plan_header_says_where_a_new_secret_shows_and_how_to_list_them() -> None:
    header = (WORKFLOWS / "plan.yml").read_text(encoding="utf-8").split("\nname:", 1)[0]
    assert "`cxrecon secrets`" in header
    assert "newly needs" in header


def test_the_listing_command_finds_every_reference() -> None:
    done = subprocess.run(
        ["bash", "-c", LIST_REFERENCES],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "LC_ALL": "C"},
        capture_output=True,
        text=True,
        check=True,
    )
    listed = done.stdout.split()
    assert listed == sorted(
        [f"${{env:{name}}}" for name in references("env")]
        + [f"${{file:{path}}}" for path in references("file")]
    )
