"""Drives every cxrecon command end to end with canary secrets: a project against an emulator
on a real port, failure paths, the controller, the GitHub helpers and the embedded emulator.

Each command runs as its own process (`logged_cli.py`, DEBUG logging into one file), so what
is scanned is what a user or a CI log would really see.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx

from reconciler.config.settings import DEFAULT_SCOPES
from reconciler.emulator.config import OAuthClient, default_clients
from reconciler.testing import RunningEmulator

from .canaries import CanarySet

ROOT: Final = Path(__file__).resolve().parents[2]
LOGGED_CLI: Final = Path(__file__).resolve().parent / "logged_cli.py"
FAKE_GH: Final = ROOT / "tests" / "github" / "fake_gh.py"
GITHUB_FIXTURES: Final = ROOT / "tests" / "fixtures" / "github"
CLIENT_ID: Final = "cxrecon-ci"
USERNAME: Final = "ops-user"
#: Connector secret references in connectors/ and the canary kind each resolves to.
CONNECTOR_SECRETS: Final = {
    "SALESFORCE_CLIENT_SECRET": "salesforce-client-secret",
    "LEGACY_TICKETING_PASSWORD": "legacy-password",
    "SUPPORT_DESK_API_KEY": "support-desk-api-key",
}
SECRET_FILE: Final = ".secrets/dynamics-client-secret"
POLL: Final = ("--poll-base", "0.01", "--poll-cap", "0.05")
SALESFORCE: Final = "Salesforce-Contact-Sync"


@dataclass(frozen=True)
class Capture:
    label: str
    argv: tuple[str, ...]
    returncode: int
    expected: int
    stdout: str
    stderr: str


@dataclass
class Campaign:
    """Everything one run produced: captures, the directories it wrote, what was heard."""

    root: Path
    canaries: CanarySet
    emulator: RunningEmulator
    captures: list[Capture] = field(default_factory=list)
    #: Bodies of the controller's endpoints, by path.
    scraped: dict[str, str] = field(default_factory=dict)
    #: Files that hold a secret on purpose (the `${file:}` source): never scanned.
    secret_sources: set[Path] = field(default_factory=set)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def debug_log(self) -> Path:
        return self.root / "debug.log"

    def cx(
        self,
        label: str,
        *args: str,
        expect: int,
        cwd: Path | None = None,
        env: Mapping[str, str | None] | None = None,
        timeout: float = 60,
    ) -> Capture:
        merged = dict(self.env)
        for key, value in (env or {}).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        argv = (sys.executable, str(LOGGED_CLI), *args)
        done = subprocess.run(
            argv,
            cwd=cwd or self.project,
            env=merged,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        capture = Capture(label, tuple(args), done.returncode, expect, done.stdout, done.stderr)
        self.captures.append(capture)
        return capture

    def mismatches(self) -> list[str]:
        return [
            f"{c.label}: exit {c.returncode}, expected {c.expected}\n{c.stderr[-2000:]}"
            for c in self.captures
            if c.returncode != c.expected
        ]


def emulator_clients(canaries: CanarySet) -> dict[str, OAuthClient]:
    """The documented demo client (the test's own admin calls) plus cxrecon's canary client."""
    clients = default_clients()
    clients[CLIENT_ID] = OAuthClient(canaries["cxone-client-secret"], frozenset(DEFAULT_SCOPES))
    return clients


#: Awkward tails: JSON escapes, non-ASCII and form/URL metacharacters, so a copy of a secret
#: that was encoded on its way out is not missed by masking that only knows the raw value.
JSON_TAIL: Final = '"\\/ä'
FORM_TAIL: Final = '"\\&+%=/ä'
#: HTTP Basic carries the client secret unencoded: no `+`/`%` (the emulator form-decodes it).
BASIC_TAIL: Final = '"\\/=:'


def make_canaries() -> CanarySet:
    canaries = CanarySet()
    for kind, tail in (
        ("cxone-client-secret", BASIC_TAIL),
        ("cxone-password", FORM_TAIL),
        ("wrong-client-secret", BASIC_TAIL),
        ("salesforce-client-secret", FORM_TAIL),
        ("legacy-password", JSON_TAIL),
        ("support-desk-api-key", ""),
        ("salesforce-rotated", FORM_TAIL),
        ("dynamics-file-secret", FORM_TAIL),
        ("out-of-band-password", JSON_TAIL),
        ("literal-client-secret", ""),
        ("literal-token", ""),
        ("literal-private-key", ""),
        ("literal-var", ""),
        ("gh-token", ""),
        ("access-token", ""),
    ):
        canaries.make(kind, tail)
    return canaries


def project_file(base_url: str) -> str:
    return f"""project: leak-campaign
connectors: connectors/
defaultEnvironment: emu
environments:
  emu:
    tenant: leak-test
    baseUrl: {base_url}
    clientId: {CLIENT_ID}
    vars:
      salesforce_instance_url: https://acme--dev.sandbox.my.salesforce.com
      salesforce_login_url: https://test.salesforce.com
      dynamics_org_url: https://acme-dev.crm.dynamics.com
      dynamics_tenant_id: 00000000-0000-0000-0000-000000000000
      support_desk_url: https://support-dev.acme-crm.example
sync:
  pollBaseSeconds: 0.01
  pollCapSeconds: 0.05
"""


def write_project(campaign: Campaign, where: Path, base_url: str) -> None:
    shutil.copytree(ROOT / "connectors", where / "connectors")
    (where / "cxrecon.yaml").write_text(project_file(base_url), encoding="utf-8")
    secret = where / SECRET_FILE
    secret.parent.mkdir()
    secret.write_text(campaign.canaries["dynamics-file-secret"] + "\n", encoding="utf-8")
    campaign.secret_sources.add(secret)


def base_env(campaign: Campaign, gh_bin: Path) -> dict[str, str]:
    """The process environment without anything of a real CI job or tenant, plus canaries."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CXONE_", "GITHUB_", "GH_", "RUNNER_", "ACTIONS_", "CXRECON_"))
        and key not in CONNECTOR_SECRETS
        and key != "FORCE_COLOR"
    }
    c = campaign.canaries
    env.update({name: c[kind] for name, kind in CONNECTOR_SECRETS.items()})
    env.update(
        {
            "PATH": os.pathsep.join([str(gh_bin), env.get("PATH", "")]),
            "NO_COLOR": "1",
            "CXONE_CLIENT_ID": CLIENT_ID,
            "CXONE_CLIENT_SECRET": c["cxone-client-secret"],
            "CXRECON_TEST_DEBUG_LOG": str(campaign.debug_log),
        }
    )
    return env


def github_env(campaign: Campaign, event: str, event_name: str) -> dict[str, str | None]:
    """A simulated Actions job: annotations on, a job summary and outputs file in the run."""
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "acme/cx-connectors",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "9876543210",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
        "GITHUB_OUTPUT": str(campaign.root / "github_output"),
        "GITHUB_STEP_SUMMARY": str(campaign.root / "step_summary.md"),
        "GITHUB_EVENT_PATH": str(GITHUB_FIXTURES / event),
        "GITHUB_EVENT_NAME": event_name,
        "GH_TOKEN": campaign.canaries["gh-token"],
    }


def install_fake_gh(bin_dir: Path) -> None:
    bin_dir.mkdir()
    fake = bin_dir / "gh"
    fake.write_text(f"#!{sys.executable}\n" + FAKE_GH.read_text(encoding="utf-8"))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    issue = {"number": 40, "title": "t", "body": "b", "html_url": "https://github.com/i/40"}
    rules = [
        (["GET", "issues/42/comments"], "[]"),
        (["GET", "pulls/42"], json.dumps({"labels": []})),
        (["POST", "issues/42/comments"], json.dumps({"id": 7, "body": "", "html_url": "u"})),
        (["GET", "issues?state=open"], "[]"),
        (["label", "create"], ""),
        (["POST", "issues"], json.dumps(issue)),
    ]
    (bin_dir / "rules.json").write_text(
        json.dumps([{"contains": w, "stdout": o, "stderr": "", "exit_code": 0} for w, o in rules]),
        encoding="utf-8",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def scrape_controller(campaign: Campaign, label: str, *args: str, env: dict[str, str]) -> None:
    """`cxrecon reconcile` serving its endpoints: wait for a finished cycle, read every
    endpoint, then stop it with SIGTERM as systemd or Kubernetes would."""
    port = free_port()
    argv = (sys.executable, str(LOGGED_CLI), "reconcile", *args, "--listen", f"127.0.0.1:{port}")
    process = subprocess.Popen(
        argv,
        cwd=campaign.project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            while time.monotonic() < deadline:
                try:
                    finished = http.get("/status").json()["cyclesFinished"]
                except (httpx.TransportError, ValueError):
                    finished = 0
                if finished >= 1 or process.poll() is not None:
                    break
                time.sleep(0.05)
            for path in ("/healthz", "/readyz", "/metrics", "/status"):
                campaign.scraped[f"{label} {path}"] = http.get(path).text
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    campaign.captures.append(Capture(label, args, process.returncode, 0, out, err))


def serve_emulator(campaign: Campaign, db: Path, *args: str, env: dict[str, str]) -> Served:
    """`cxrecon emulator serve --port 0` as its own process (access log on); stop with
    `served.stop()`, which records its output as a capture."""
    argv = (sys.executable, str(LOGGED_CLI), "emulator", "serve", "--port", "0", "--db", str(db))
    process = subprocess.Popen(
        (*argv, *args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    banner = process.stderr.readline()
    if "/api/v2" not in banner:
        process.kill()
        raise AssertionError(f"cxrecon emulator serve did not start: {banner}")
    url = banner.split("http://", 1)[1].split(" ", 1)[0]
    return Served(campaign, process, "http://" + url, banner)


@dataclass
class Served:
    campaign: Campaign
    process: subprocess.Popen[str]
    base_url: str
    banner: str

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        out, err = self.process.communicate(timeout=30)
        # Ctrl-C is how it is meant to stop: "Interrupted." and 130, like every command.
        code = self.process.returncode
        self.campaign.captures.append(
            Capture("emulator serve", (), code, 130, out, self.banner + err)
        )
