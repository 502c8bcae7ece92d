"""The workflows `cxrecon init` generates stay valid for any environment and reference names
a project may hold: YAML reads back the names given, GitHub's rules for job ids and secret
names are met, file paths are quoted in the scripts, and actionlint and zizmor find nothing."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from importlib import resources
from pathlib import Path

import pytest
import yaml

from reconciler.errors import ConfigError
from reconciler.gitops.workflows import (
    WORKFLOW_FILES,
    SecretUse,
    render_workflows,
    secret_names,
)

ROOT = Path(__file__).resolve().parents[2]

ODD_ENVIRONMENTS = ("prod.eu", "2nd", "on", "staging_1")
ODD_SECRETS = (
    SecretUse("env", "lower_case_key"),
    SecretUse("env", "GITHUB_TOKEN_FOR_CRM"),
    SecretUse("file", "secrets/a b.txt"),
    SecretUse("file", "other/a b.txt"),
)


def write(folder: Path, rendered: dict[str, str]) -> list[str]:
    workflows = folder / ".github" / "workflows"
    workflows.mkdir(parents=True)
    for name, text in rendered.items():
        (workflows / name).write_text(text, encoding="utf-8")
    return sorted(str(p) for p in workflows.glob("*.yml"))


def load(text: str) -> dict[object, object]:
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return render_workflows(
        ODD_ENVIRONMENTS,
        dict.fromkeys(ODD_ENVIRONMENTS, ODD_SECRETS),
        notifications=("TEAMS_WEBHOOK_URL", "github_hook"),
    )


def test_names_read_back_as_given(rendered: dict[str, str]) -> None:
    plan = load(rendered["plan.yml"])
    jobs = plan["jobs"]
    assert isinstance(jobs, dict)
    assert jobs["plan"]["strategy"]["matrix"]["environment"] == list(ODD_ENVIRONMENTS)
    apply_jobs = load(rendered["apply.yml"])["jobs"]
    assert isinstance(apply_jobs, dict)
    assert list(apply_jobs) == ["prod-eu", "env-2nd", "env-on", "staging_1"]
    assert [job["with"]["environment"] for job in apply_jobs.values()] == list(ODD_ENVIRONMENTS)
    assert [job.get("needs") for job in apply_jobs.values()] == [
        None,
        "prod-eu",
        "env-2nd",
        "env-on",
    ]


def test_secret_names_follow_githubs_rules_and_stay_distinct() -> None:
    names = secret_names(ODD_SECRETS)
    assert names[SecretUse("env", "lower_case_key")] == "LOWER_CASE_KEY"
    assert names[SecretUse("env", "GITHUB_TOKEN_FOR_CRM")] == "CXRECON_GITHUB_TOKEN_FOR_CRM"
    assert len(set(names.values())) == len(names)
    for name in names.values():
        assert name.replace("_", "").isalnum()
        assert name.isupper()


def test_the_apply_step_maps_each_variable_under_its_own_name(rendered: dict[str, str]) -> None:
    workflow = load(rendered["apply-environment.yml"])
    jobs = workflow["jobs"]
    assert isinstance(jobs, dict)
    (job,) = jobs.values()
    step = next(s for s in job["steps"] if s.get("name") == "Apply")
    assert step["env"]["lower_case_key"] == "${{ secrets.LOWER_CASE_KEY }}"
    assert step["env"]["GITHUB_TOKEN_FOR_CRM"] == "${{ secrets.CXRECON_GITHUB_TOKEN_FOR_CRM }}"
    assert "> 'secrets/a b.txt'" in step["run"]
    assert "> 'other/a b.txt'" in step["run"]
    assert "rm -f 'other/a b.txt' 'secrets/a b.txt'" in step["run"]


def test_plan_and_drift_jobs_get_no_connector_secret(rendered: dict[str, str]) -> None:
    for name in ("plan.yml", "drift.yml"):
        text = rendered[name]
        for secret in secret_names(ODD_SECRETS).values():
            assert secret not in text, (name, secret)


def test_linters_find_nothing(rendered: dict[str, str], tmp_path: Path) -> None:
    for tool in ("actionlint", "zizmor"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: pip install -e '.[test]'")
    files = write(tmp_path, rendered)
    linted = subprocess.run(
        ["actionlint", "-no-color", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    audited = subprocess.run(
        ["zizmor", "--offline", "--no-progress", "--color", "never", str(Path(files[0]).parent)],
        capture_output=True,
        text=True,
        env={"PATH": str(Path(shutil.which("zizmor") or "").parent), "HOME": str(tmp_path)},
        timeout=120,
        check=False,
    )
    assert audited.returncode == 0, audited.stdout + audited.stderr


@pytest.mark.parametrize(
    ("environments", "uses", "needle"),
    [
        ((), (), "at least one environment"),
        (("a b",), (), "cannot name a GitHub environment"),
        (("prod",), (SecretUse("env", "has-dash"),), "cannot be passed to a workflow step"),
    ],
)
def test_what_a_workflow_cannot_carry_is_refused(
    environments: tuple[str, ...], uses: tuple[SecretUse, ...], needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        render_workflows(environments, dict.fromkeys(environments, uses))


def test_the_templates_ship_as_package_data() -> None:
    # What `cxrecon init` reads from an installed wheel (pyproject's package-data).
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    assert "reconciler.templates.workflows" in setuptools["packages"]
    assert setuptools["package-data"]["reconciler.templates.workflows"] == ["*.yml"]
    shipped = {e.name for e in resources.files("reconciler.templates.workflows").iterdir()}
    assert set(WORKFLOW_FILES) <= shipped


def test_notification_variables_reach_the_apply_and_drift_steps_only() -> None:
    rendered = render_workflows(
        ("staging", "production"),
        {},
        notifications=("TEAMS_WEBHOOK_URL", "smtp_password", "TEAMS_WEBHOOK_URL"),
    )
    apply_job = next(iter(load(rendered["apply-environment.yml"])["jobs"].values()))  # type: ignore[attr-defined]
    apply_step = next(s for s in apply_job["steps"] if s.get("name") == "Apply")
    drift_job = next(iter(load(rendered["drift.yml"])["jobs"].values()))  # type: ignore[attr-defined]
    drift_step = next(s for s in drift_job["steps"] if s.get("name") == "Detect drift")
    for step in (apply_step, drift_step):
        assert step["env"]["TEAMS_WEBHOOK_URL"] == "${{ secrets.TEAMS_WEBHOOK_URL }}"
        assert step["env"]["smtp_password"] == "${{ secrets.SMTP_PASSWORD }}"
    assert "TEAMS_WEBHOOK_URL" not in rendered["plan.yml"]  # a plan tells nobody


def test_without_notifications_the_steps_say_where_their_variables_go() -> None:
    rendered = render_workflows(("production",), {})
    for name in ("apply-environment.yml", "drift.yml"):
        assert "# Notification URLs (notifications: in cxrecon.yaml)" in rendered[name]
        assert "# (none yet: e.g. TEAMS_WEBHOOK_URL" in rendered[name]


def test_a_notification_variable_a_step_cannot_carry_is_refused() -> None:
    with pytest.raises(ConfigError, match="cannot be passed to a workflow step"):
        render_workflows(("production",), {}, notifications=("has-dash",))
