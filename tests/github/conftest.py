"""A simulated GitHub Actions job for `cxrecon github …`: the runner's variables, an event
payload, output and summary files, and a fake `gh` first on PATH that records its calls."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "github"
FAKE_GH_SOURCE = Path(__file__).resolve().parent / "fake_gh.py"
#: A token value that must never appear in anything cxrecon prints or posts.
CANARY_TOKEN = "ghs_CANARY0token0must0never0leak0000000"


@dataclass(frozen=True)
class GhCall:
    argv: list[str]
    stdin: str | None

    @property
    def method(self) -> str:
        return self.argv[self.argv.index("--method") + 1] if "--method" in self.argv else ""

    @property
    def endpoint(self) -> str:
        return self.argv[3] if self.argv[:1] == ["api"] else ""

    def body(self) -> dict[str, object]:
        assert self.stdin is not None, f"gh {self.argv} got no request body"
        parsed = json.loads(self.stdin)
        assert isinstance(parsed, dict)
        return parsed


@dataclass
class FakeGh:
    """Canned answers for the fake `gh`; the first rule whose words all match wins."""

    directory: Path
    rules: list[dict[str, object]] = field(default_factory=list)

    def respond(
        self,
        *contains: str,
        stdout: object = "",
        stderr: str = "",
        exit_code: int = 0,
        files: dict[str, str] | None = None,
    ) -> None:
        text = stdout if isinstance(stdout, str) else json.dumps(stdout)
        self.rules.append(
            {
                "contains": list(contains),
                "stdout": text,
                "stderr": stderr,
                "exit_code": exit_code,
                "files": files or {},
            }
        )
        (self.directory / "rules.json").write_text(json.dumps(self.rules), encoding="utf-8")

    def calls(self) -> list[GhCall]:
        log = self.directory / "calls.jsonl"
        if not log.exists():
            return []
        return [
            GhCall(argv=record["argv"], stdin=record["stdin"])
            for record in map(json.loads, log.read_text(encoding="utf-8").splitlines())
        ]

    def writes(self) -> list[GhCall]:
        """Calls that change something on GitHub (anything but an API GET)."""
        return [call for call in self.calls() if call.method != "GET"]


@dataclass
class ActionsJob:
    """One simulated job: run `cxrecon github …` in it and read what it left behind."""

    workdir: Path
    env: dict[str, str]
    gh: FakeGh

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "reconciler", "github", *args],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def use_event(self, fixture: str, event_name: str) -> None:
        self.env["GITHUB_EVENT_PATH"] = str(FIXTURES / fixture)
        self.env["GITHUB_EVENT_NAME"] = event_name

    def outputs(self) -> dict[str, str]:
        return parse_outputs(Path(self.env["GITHUB_OUTPUT"]).read_text(encoding="utf-8"))

    def summary(self) -> str:
        return Path(self.env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")

    def write(self, name: str, text: str) -> Path:
        path = self.workdir / name
        path.write_text(text, encoding="utf-8")
        return path


def parse_outputs(text: str) -> dict[str, str]:
    """Read a GITHUB_OUTPUT file the way the runner does (name=value and heredoc forms)."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body: list[str] = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            values[name] = "\n".join(body)
        else:
            name, value = line.split("=", 1)
            values[name] = value
    return values


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def fixture_json(name: str) -> object:
    return json.loads(fixture_text(name))


@pytest.fixture
def job(tmp_path: Path) -> ActionsJob:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "gh"
    fake.write_text(f"#!{sys.executable}\n" + FAKE_GH_SOURCE.read_text(encoding="utf-8"))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    gh = FakeGh(bin_dir)
    gh.respond("__never_matches__")  # writes rules.json so every call finds the file
    workdir = tmp_path / "work"
    workdir.mkdir()
    # The suite itself may run inside GitHub Actions: none of the real job's context leaks in.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GITHUB_", "GH_", "RUNNER_", "ACTIONS_"))
    }
    env.update(
        {
            "PATH": os.pathsep.join([str(bin_dir), env.get("PATH", "")]),
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": "acme/cx-connectors",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "9876543210",
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
            "GITHUB_OUTPUT": str(tmp_path / "github_output"),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "step_summary.md"),
            "GH_TOKEN": CANARY_TOKEN,
        }
    )
    Path(env["GITHUB_OUTPUT"]).touch()
    Path(env["GITHUB_STEP_SUMMARY"]).touch()
    job = ActionsJob(workdir=workdir, env=env, gh=gh)
    job.use_event("event_pull_request.json", "pull_request")
    return job


def assert_no_token(*texts: str | None) -> None:
    for text in texts:
        assert CANARY_TOKEN not in (text or "")
