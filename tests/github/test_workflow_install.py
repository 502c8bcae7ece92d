"""How the workflows install cxrecon (issue 14).

There is no `cxrecon` on the package index: a default of `pip install cxrecon` would install
whatever package later claims the name, with the job's CXone credentials in reach. Every
job installs what the repository variable CXRECON_INSTALL names, which must be this project
from git at a pinned ref or a copy vendored in the connectors repository, and stops with a
clear message when it is not set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .test_workflow_files import (
    TEMPLATES,
    WORKFLOWS,
    fake_command,
    load,
    recorded_calls,
    run_step,
    steps,
)

SHA = "0123456789abcdef0123456789abcdef01234567"


def install_steps() -> list[tuple[str, dict[str, Any]]]:
    found = [
        (name, step)
        for name in TEMPLATES
        for step in steps(load(name))
        if step.get("name") == "Install cxrecon"
    ]
    return found


def the_install_step() -> dict[str, Any]:
    (_, first), *_ = install_steps()
    return first


def test_every_job_that_runs_cxrecon_installs_it_the_same_way() -> None:
    found = install_steps()
    # plan.yml: validate and plan; drift.yml: drift; apply-environment.yml: apply.
    assert sorted(name for name, _ in found) == [
        "apply-environment.yml",
        "drift.yml",
        "plan.yml",
        "plan.yml",
    ]
    first = found[0][1]
    for name, step in found:
        assert step["run"] == first["run"], f"{name}: the install script differs"
        assert step["env"] == {"CXRECON_INSTALL": "${{ vars.CXRECON_INSTALL }}"}, name


@pytest.mark.parametrize("name", [*TEMPLATES, "ci.yml"])
def test_no_workflow_falls_back_to_a_name_on_the_package_index(name: str) -> None:
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    assert "CXRECON_PIP_SPEC" not in text
    assert "|| 'cxrecon'" not in text


def install(tmp_path: Path, spec: str | None) -> tuple[int, str, list[list[str]]]:
    bin_dir = tmp_path / "bin"
    log = fake_command(bin_dir, "python")
    env = {} if spec is None else {"CXRECON_INSTALL": spec}
    done = run_step(the_install_step(), cwd=tmp_path, env=env, bin_dir=bin_dir)
    return done.returncode, done.stdout + done.stderr, recorded_calls(log)


@pytest.mark.parametrize("spec", [None, ""])
def test_nothing_configured_stops_with_a_clear_message(tmp_path: Path, spec: str | None) -> None:
    code, output, calls = install(tmp_path, spec)
    assert code != 0
    assert calls == []
    assert "::error" in output
    assert "CXRECON_INSTALL" in output
    assert "git+https://github.com/" in output  # says what to set it to


@pytest.mark.parametrize(
    "spec",
    [
        "cxrecon",
        "cxrecon==0.1.0",
        "cxrecon @ git+https://github.com/acme/cxrecon",  # no ref: whatever the branch holds
        "git+ssh://git@github.com/acme/cxrecon",  # the @ is the user, not a ref
        "https://example.com/cxrecon-0.1.0.tar.gz",
    ],
)
def test_a_name_from_the_index_or_an_unpinned_url_is_refused(tmp_path: Path, spec: str) -> None:
    code, output, calls = install(tmp_path, spec)
    assert code != 0
    assert calls == []
    assert "::error" in output
    assert "pinned" in output


@pytest.mark.parametrize(
    "spec",
    [
        f"cxrecon @ git+https://github.com/acme/cxrecon@{SHA}",
        f"git+https://github.com/acme/cxrecon@{SHA}",
        f"git+ssh://git@github.com/acme/cxrecon@{SHA}",
        "./tools/cxrecon",
    ],
)
def test_a_pinned_commit_or_a_vendored_copy_is_installed(tmp_path: Path, spec: str) -> None:
    code, output, calls = install(tmp_path, spec)
    assert code == 0, output
    assert calls == [["-m", "pip", "install", "--disable-pip-version-check", spec]]
    assert "::warning" not in output


def test_a_tag_is_installed_with_a_warning_that_it_can_move(tmp_path: Path) -> None:
    spec = "cxrecon @ git+https://github.com/acme/cxrecon@v0.1.0"
    code, output, calls = install(tmp_path, spec)
    assert code == 0, output
    assert calls == [["-m", "pip", "install", "--disable-pip-version-check", spec]]
    assert "::warning" in output
    assert "commit" in output
