"""A saved plan is bound to what it was made for (issue 22 break 3), verified by content
behind a server whose ETags never change (issue 23 break 3), re-runs as is after a partial
failure (issue 24), and is written without following links or leaving half a file.

Against the emulator over a real port, through the CLI a person or a merge job runs."""

from __future__ import annotations

import json
import os
import resource
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.plan.saved import checksum
from reconciler.testing import RunningEmulator

from .helpers import (
    CANARY_ENV,
    Project,
    connection_env,
    connector_doc,
    run_cli,
    write_count,
)
from .reviewing import applied, by_name


def saved_plan(out: Path, *extra: str) -> Path:
    result = run_cli(["plan", "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return out


def forged(path: Path, edit: Any) -> None:
    """Edit the plan as whoever produced the artifact could, checksum recomputed."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    edit(doc)
    doc["checksum"] = checksum(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")


def refused(result: Any, *words: str) -> str:
    """The one line of a refusal (exit 1, no traceback), checked for `words`."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    for word in words:
        assert word in lines[0], lines[0]
    return str(lines[0])


# --- break 3 of issue 22: a plan re-rooted at another project -----------------------


@pytest.fixture
def two_projects(project: Project) -> Path:
    """The main project, and `sub/` inside it: another project with an exfiltrating
    connector that uses a secret reference of the main project."""
    (project.root / "cxrecon.yaml").write_text("project: main\n", encoding="utf-8")
    sub = project.root / "sub"
    (sub / "connectors").mkdir(parents=True)
    (sub / "cxrecon.yaml").write_text("project: other\n", encoding="utf-8")
    exfil = connector_doc("Exfil", endpointUrl="https://attacker.example/steal")
    (sub / "connectors" / "exfil.yaml").write_text(json.dumps(exfil), encoding="utf-8")
    return sub


def test_a_plan_re_rooted_at_another_project_is_refused(
    project: Project, emulator: RunningEmulator, two_projects: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crafted = project.root / "crafted.json"
    monkeypatch.chdir(two_projects)
    saved_plan(crafted)
    forged(crafted, lambda doc: doc.__setitem__("source", {"root": "sub", "path": None}))
    monkeypatch.chdir(project.root)
    writes = write_count(emulator.control)

    line = refused(run_cli(["apply", "--plan", str(crafted), "--auto-approve"]), "project")

    assert "'other'" in line
    assert "'main'" in line
    assert write_count(emulator.control) == writes
    assert "Exfil" not in by_name(emulator)


@pytest.mark.parametrize(
    "path",
    ["sub/connectors", "sub/connectors/exfil.yaml", "../repo/sub/connectors", "/etc", "/tmp"],
)
def test_no_path_inside_a_plan_leads_apply_to_another_folder(
    project: Project,
    emulator: RunningEmulator,
    two_projects: Path,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    # The other project even takes the main project's name: only the path could lead there.
    (two_projects / "cxrecon.yaml").write_text("project: main\n", encoding="utf-8")
    crafted = project.root / "crafted.json"
    monkeypatch.chdir(two_projects)
    saved_plan(crafted)

    def reroot(doc: dict[str, Any]) -> None:
        doc["source"] = {**(doc.get("source") or {}), "root": "sub", "path": path}

    forged(crafted, reroot)
    monkeypatch.chdir(project.root)
    writes = write_count(emulator.control)

    result = run_cli(["apply", "--plan", str(crafted), "--auto-approve"])

    refused(result, str(crafted))
    assert write_count(emulator.control) == writes
    assert "Exfil" not in by_name(emulator)


def test_plan_out_of_a_path_outside_the_connectors_root_is_refused(
    project: Project, emulator: RunningEmulator
) -> None:
    other = project.root / "team-a"
    other.mkdir()
    project.write(connector_doc("Alpha")).rename(other / "alpha.yaml")

    result = run_cli(["plan", "team-a", "--out", "plan.json"])

    line = refused(result, "team-a", "outside the connectors root 'connectors'")
    assert "--out" in line
    assert not (project.root / "plan.json").exists()


def test_a_plan_for_another_tenant_is_refused_naming_both(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project.root / "cxrecon.yaml").write_text("project: main\n", encoding="utf-8")
    project.write(connector_doc("Alpha"))
    plan = saved_plan(project.root / "plan.json")
    other = emulator.base_url.replace("127.0.0.1", "localhost")
    monkeypatch.setenv("CXONE_BASE_URL", other)

    line = refused(run_cli(["apply", "--plan", str(plan)]), "tenant", other, emulator.base_url)

    assert "cxrecon plan" in line
    assert "Alpha" not in by_name(emulator)


def test_a_plan_for_the_embedded_emulator_is_refused_against_a_tenant_and_back(
    project: Project, emulator: RunningEmulator
) -> None:
    """`plan --emulator --out` names the embedded emulator as its tenant (its port changes
    from run to run): refused against a real tenant, and a tenant's plan with --emulator,
    each saying where --emulator is (or is not) the difference."""
    (project.root / "cxrecon.yaml").write_text("project: main\n", encoding="utf-8")
    project.write(connector_doc("Alpha"))
    emulated = saved_plan(project.root / "emulated.json", "--emulator")
    real = saved_plan(project.root / "real.json")

    to_tenant = refused(run_cli(["apply", "--plan", str(emulated)]), "tenant", emulator.base_url)
    to_emulator = refused(run_cli(["apply", "--emulator", "--plan", str(real)]), "tenant")

    assert "planned for tenant 'embedded emulator (--emulator)'" in to_tenant
    assert "apply it with --emulator" in to_tenant
    assert "this apply is for tenant 'embedded emulator (--emulator)' (--emulator)" in to_emulator
    assert "Alpha" not in by_name(emulator)


def test_a_plan_for_another_connectors_root_is_refused(
    project: Project, emulator: RunningEmulator
) -> None:
    (project.root / "cxrecon.yaml").write_text("project: main\n", encoding="utf-8")
    project.write(connector_doc("Alpha"))
    plan = saved_plan(project.root / "plan.json")
    (project.root / "connectors").rename(project.root / "crm")
    (project.root / "cxrecon.yaml").write_text("project: main\nconnectors: crm\n", encoding="utf-8")

    refused(run_cli(["apply", "--plan", str(plan)]), "connectors", "'connectors'", "'crm'")
    assert "Alpha" not in by_name(emulator)


def test_a_plan_of_another_commit_applies_only_while_git_holds_the_same_files(
    project: Project, emulator: RunningEmulator
) -> None:
    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=project.root,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    (project.root / "cxrecon.yaml").write_text("project: main\n", encoding="utf-8")
    alpha = connector_doc("Alpha")
    project.write(alpha)
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "alpha")
    planned_at = git("rev-parse", "HEAD")
    plan = saved_plan(project.root / ".." / "plan.json")
    assert json.loads(plan.read_text())["binding"]["commit"] == planned_at

    # A commit that leaves the connector files alone (a README) keeps the plan applicable.
    (project.root / "README.md").write_text("notes\n", encoding="utf-8")
    git("add", ".")
    git("commit", "-q", "-m", "readme")
    project.write({**alpha, "description": "not in the plan"})
    git("commit", "-q", "-am", "alpha changed")
    now = git("rev-parse", "HEAD")

    result = run_cli(["apply", "--plan", str(plan)])

    assert result.exit_code == 1, result.output
    assert planned_at[:12] in result.output
    assert now[:12] in result.output
    assert "Alpha" not in by_name(emulator)
    git("revert", "--no-edit", "HEAD")
    result = run_cli(["apply", "--plan", str(plan)])
    assert result.exit_code == 0, result.output
    assert "Alpha" in by_name(emulator)


def test_a_plan_of_an_older_format_without_binding_is_refused(
    project: Project, emulator: RunningEmulator
) -> None:
    project.write(connector_doc("Alpha"))
    plan = saved_plan(project.root / "plan.json")

    def old(doc: dict[str, Any]) -> None:
        doc.pop("binding", None)
        doc["formatVersion"] = 1

    forged(plan, old)
    refused(run_cli(["apply", "--plan", str(plan)]), "format", "cxrecon plan --out")
    assert "Alpha" not in by_name(emulator)


# --- issue 23 break 3: ETags that do not change with content -------------------------


class _ConstantETagProxy(BaseHTTPRequestHandler):
    """In front of the emulator: every ETag it answers is the same, and an If-Match with
    that ETag is accepted (as a server whose ETags do not follow content would)."""

    upstream: str = ""
    constant = '"constant"'

    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def do_PATCH(self) -> None:
        self._forward()

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in ("host", "content-length", "if-none-match", "connection")
        }
        url = self.upstream + self.path
        with httpx.Client() as http:
            if "If-Match" in headers:
                real = http.get(url, headers={"Authorization": headers.get("Authorization", "")})
                headers["If-Match"] = real.headers.get("ETag", headers["If-Match"])
            answer = http.request(self.command, url, headers=headers, content=body)
        content = answer.content
        if answer.headers.get("Content-Type", "").startswith("application/json"):
            content = json.dumps(self._constant_etags(answer.json())).encode()
        self.send_response(answer.status_code)
        for key, value in answer.headers.items():
            if key.lower() in ("content-length", "transfer-encoding", "connection", "date"):
                continue
            self.send_header(key, self.constant if key.lower() == "etag" else value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def _constant_etags(self, body: Any) -> Any:
        """Listings carry each connector's ETag in the body: constant there too."""
        if isinstance(body, list):
            return [self._constant_etags(item) for item in body]
        if isinstance(body, dict):
            return {
                k: self.constant if k == "etag" else self._constant_etags(v)
                for k, v in body.items()
            }
        return body

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def constant_etags(emulator: RunningEmulator) -> Iterator[str]:
    """The base URL of a proxy in front of `emulator` whose ETags never change."""
    handler = type("Handler", (_ConstantETagProxy,), {"upstream": emulator.root_url})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/v2"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_ui_edit_behind_constant_etags_makes_the_saved_plan_stale(
    project: Project,
    emulator: RunningEmulator,
    constant_etags: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alpha = connector_doc("Alpha")
    applied(project, alpha)
    monkeypatch.setenv("CXONE_BASE_URL", constant_etags)
    project.write({**alpha, "description": "reviewed change"})
    plan = saved_plan(project.root / "plan.json")
    alpha_id = str(by_name(emulator)["Alpha"]["id"])
    ui = {"description": "edited in the UI", "syncSettings": {"batchSize": 77}}
    emulator.control.edit(alpha_id, ui)
    writes = write_count(emulator.control)

    result = run_cli(["apply", "--plan", str(plan), "--auto-approve"])

    assert result.exit_code == 1, result.output
    assert "Alpha (changed in CXone" in result.output
    assert write_count(emulator.control) == writes
    now = by_name(emulator)["Alpha"]
    assert now["description"] == "edited in the UI"
    assert now["syncSettings"]["batchSize"] == 77


# --- issue 24: a partly failed saved plan re-runs as is --------------------------------


def test_a_partly_failed_saved_plan_continues_with_the_command_it_names(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    alpha = connector_doc("Alpha")
    applied(project, alpha)
    project.write({**alpha, "description": "reviewed change"})
    beta = connector_doc("Beta")
    beta["authentication"]["credentials"]["apiKey"] = "${env:BETA_API_KEY}"
    project.write(beta)
    project.write(connector_doc("Gamma"))
    monkeypatch.delenv("BETA_API_KEY", raising=False)
    plan = saved_plan(project.root / "reviewed.json")

    first = run_cli(["apply", "--plan", "reviewed.json"])

    assert first.exit_code == 1, first.output
    remote = by_name(emulator)
    assert remote["Alpha"]["description"] == "reviewed change"
    assert "Gamma" in remote
    assert "Beta" not in remote
    continued = [line for line in first.output.splitlines() if "cxrecon apply --plan" in line]
    assert continued, first.output
    command = shlex.split(continued[-1].split("`")[1])
    assert command == ["cxrecon", "apply", "--plan", "reviewed.json"]

    monkeypatch.setenv("BETA_API_KEY", "beta-key-5e1d")
    untouched = {name: remote[name]["etag"] for name in ("Alpha", "Gamma")}
    again = run_cli(command[1:])

    assert again.exit_code == 0, again.output
    assert "stale" not in again.output
    remote = by_name(emulator)
    assert "Beta" in remote
    assert {name: remote[name]["etag"] for name in ("Alpha", "Gamma")} == untouched
    assert plan.exists()


def test_a_ui_edit_after_a_partial_failure_still_makes_the_plan_stale(
    project: Project, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    alpha = connector_doc("Alpha")
    applied(project, alpha)
    project.write({**alpha, "description": "reviewed change"})
    beta = connector_doc("Beta")
    beta["authentication"]["credentials"]["apiKey"] = "${env:BETA_API_KEY}"
    project.write(beta)
    monkeypatch.delenv("BETA_API_KEY", raising=False)
    saved_plan(project.root / "reviewed.json")
    assert run_cli(["apply", "--plan", "reviewed.json"]).exit_code == 1
    alpha_id = str(by_name(emulator)["Alpha"]["id"])
    emulator.control.edit(alpha_id, {"syncSettings": {"batchSize": 77}})
    monkeypatch.setenv("BETA_API_KEY", "beta-key-5e1d")
    writes = write_count(emulator.control)

    result = run_cli(["apply", "--plan", "reviewed.json"])

    assert result.exit_code == 1, result.output
    assert "Alpha (changed in CXone" in result.output
    assert write_count(emulator.control) == writes


# --- plan --out: written whole, never through a link ---------------------------------


def test_plan_out_replaces_a_link_at_the_target_without_following_it(
    project: Project, emulator: RunningEmulator, tmp_path: Path
) -> None:
    project.write(connector_doc("Alpha"))
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    out = project.root / "plan.json"
    out.symlink_to(victim)

    saved_plan(out)

    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert not out.is_symlink()
    assert json.loads(out.read_text(encoding="utf-8"))["kind"] == "cxrecon-saved-plan"


def test_plan_out_into_a_linked_folder_of_the_project_is_refused(
    project: Project, emulator: RunningEmulator, tmp_path: Path
) -> None:
    """`plan --out plans/plan.json` where the repository committed `plans` as a link out of
    the project: one line, nothing written there."""
    project.write(connector_doc("Alpha"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (project.root / "plans").symlink_to(elsewhere, target_is_directory=True)

    line = refused(run_cli(["plan", "--out", "plans/plan.json"]), "plans", "symbolic link")

    assert "remove it" in line
    assert list(elsewhere.iterdir()) == []


def _small_file_limit() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))


@pytest.mark.skipif(sys.platform == "win32", reason="no RLIMIT_FSIZE")
def test_plan_out_on_a_full_disk_is_one_line_and_leaves_no_file(
    project: Project, emulator: RunningEmulator
) -> None:
    for name in ("Alpha", "Beta", "Gamma"):
        project.write(connector_doc(name))
    env = {**os.environ, **connection_env(emulator.base_url), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop(CANARY_ENV, None)
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", "--no-cache", "--out", "plan.json"],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_small_file_limit,
        check=False,
    )

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "plan.json" in line]
    assert len(errors) == 1, done.stderr
    assert sorted(p.name for p in project.root.iterdir() if "plan" in p.name) == []
