"""Hostile connector repositories end to end (issue 13): each case runs `cxrecon validate` in
a subprocess, as a pull-request job would, and must end in exit 1 with a clear located
error (file:line:col and a rule), no traceback, in bounded time, and nothing of a secret
that lives outside the project or in cxrecon's own environment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

from .canaries import base64_forms

CANARY: Final = "hostile-files-canary-7Rq2vX9k"
#: Where the apiKey reference of `connector()` is written.
API_KEY: Final = "connectors/x.yaml:8:13"
#: Where `connector()`'s endpointUrl value starts.
ENDPOINT: Final = "connectors/x.yaml:4:14"


def connector(
    *, api_key: str = "${env:CRM_API_KEY}", endpoint: str = "https://crm.acme.example/api"
) -> str:
    return (
        "name: Hostile\n"
        "lifecycleStatus: ACTIVE\n"
        "connectorType: CUSTOM\n"
        f"endpointUrl: {endpoint}\n"
        "authentication:\n"
        "  type: API_KEY\n"
        "  credentials:\n"
        f"    apiKey: {api_key}\n"
        "mappings:\n"
        "  - cxoneField: contact.external_id\n"
        "    crmField: id\n"
        "    direction: INBOUND\n"
    )


@dataclass(frozen=True)
class Case:
    id: str
    #: Writes the hostile files into the project folder (the outside secret is ../outside).
    setup: Callable[[Path], None]
    #: `path:line:col`, severity and rule of the error that must be reported.
    where: str
    rule: str


def _write(text: str, name: str = "x.yaml") -> Callable[[Path], None]:
    def setup(project: Path) -> None:
        (project / "connectors" / name).write_text(text, encoding="utf-8")

    return setup


def _link_secret_inside(project: Path) -> None:
    (project / ".secrets").mkdir()
    (project / ".secrets" / "key").symlink_to(project.parent / "outside" / "secret.txt")
    _write(connector(api_key="${file:.secrets/key}"))(project)


def _link_connector_outside(project: Path) -> None:
    outside = project.parent / "outside" / "x.yaml"
    outside.write_text(connector().replace("name: Hostile", f"name: {CANARY}"))
    (project / "connectors" / "x.yaml").symlink_to(outside)


def _fifo(project: Path) -> None:
    os.mkfifo(project / "connectors" / "x.yaml")


def _var_smuggling(project: Path) -> None:
    (project / "cxrecon.yaml").write_text(
        "defaultEnvironment: dev\nenvironments:\n  dev:\n    vars:\n"
        "      url: https://crm.acme.example/${env:CXONE_CLIENT_SECRET}\n",
        encoding="utf-8",
    )
    _write(connector(endpoint="${var:url}"))(project)


POSIX: Final = sys.platform != "win32"
CASES: Final = [
    Case(
        "file-ref-dot-dot",
        _write(connector(api_key="${file:../../etc/passwd}")),
        API_KEY,
        "ref-outside-project",
    ),
    Case(
        "file-ref-to-the-outside-secret",
        _write(connector(api_key="${file:../outside/secret.txt}")),
        API_KEY,
        "ref-outside-project",
    ),
    Case(
        "file-ref-absolute",
        _write(connector(api_key="${file:/etc/hostname}")),
        API_KEY,
        "ref-outside-project",
    ),
    Case(
        "file-ref-proc-environ",
        _write(connector(api_key="${file:/proc/self/environ}")),
        API_KEY,
        "ref-outside-project",
    ),
    Case("file-ref-through-a-link", _link_secret_inside, API_KEY, "ref-outside-project"),
    Case(
        "file-ref-into-dot-git",
        _write(connector(api_key="${file:.git/config}")),
        API_KEY,
        "ref-outside-project",
    ),
    Case(
        "connector-file-linking-outside",
        _link_connector_outside,
        "connectors/x.yaml:1:1",
        "file-outside-project",
    ),
    Case(
        "cxrecons-own-secret",
        _write(connector(api_key="${env:CXONE_CLIENT_SECRET}")),
        API_KEY,
        "ref-reserved-variable",
    ),
    Case(
        "github-token",
        _write(connector(api_key="${env:GITHUB_TOKEN}")),
        API_KEY,
        "ref-reserved-variable",
    ),
    Case("var-value-smuggling", _var_smuggling, ENDPOINT, "ref-reserved-variable"),
    Case(
        "integer-of-5000-digits",
        _write(connector() + "syncSettings:\n  batchSize: " + "9" * 5000 + "\n"),
        "connectors/x.yaml:14:14",
        "yaml-number-too-large",
    ),
    Case("named-pipe", _fifo, "connectors/x.yaml:1:1", "not-a-regular-file"),
    Case(
        "password-in-url",
        _write(connector(endpoint=f"https://crm-user:{CANARY}@crm.acme.example/api")),
        ENDPOINT,
        "secret-in-url",
    ),
    Case(
        "token-in-query",
        _write(connector(endpoint=f"https://crm.acme.example/api?access_token={CANARY}")),
        ENDPOINT,
        "secret-in-url",
    ),
    Case(
        "secret-in-a-label",
        _write(connector() + f"labels:\n  password: {CANARY}\n"),
        "connectors/x.yaml:14:13",
        "secret-literal",
    ),
    Case(
        "unclosed-quote",
        _write(connector().replace("\n", '\ndescription: "never closed\n', 1)),
        "connectors/x.yaml:2:14",
        "yaml-syntax",
    ),
    Case(
        "forged-workflow-command",
        _write(
            connector(endpoint='"https://x.example/\\n::error file=README.md,line=1::INJECTED"')
        ),
        ENDPOINT,
        "schema",
    ),
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project; next to it, `outside/secret.txt` holds the canary."""
    folder = tmp_path / "project"
    (folder / "connectors").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text(CANARY + "\n", encoding="utf-8")
    return folder


def _validate(project: Path) -> tuple[int, str, float]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(project),
        "CXONE_CLIENT_SECRET": CANARY,
        "GITHUB_TOKEN": CANARY,
        "GITHUB_ACTIONS": "true",
        "NO_COLOR": "1",
        "PYTHONUTF8": "1",
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate"],
        cwd=project,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    output = (done.stdout + done.stderr).decode("utf-8", "replace")
    return done.returncode, output, time.monotonic() - started


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_hostile_file_is_a_located_error_without_leaks(project: Path, case: Case) -> None:
    posix_only = ("named-pipe", "file-ref-through-a-link", "connector-file-linking-outside")
    if case.id in posix_only and not POSIX:
        pytest.skip("named pipes and symbolic links: POSIX")
    case.setup(project)
    code, output, seconds = _validate(project)
    assert code == 1, output
    assert "Traceback" not in output, output
    assert seconds < 60
    located = re.compile(
        rf"^{re.escape(case.where)}: error: .+ \[{re.escape(case.rule)}\]$", re.MULTILINE
    )
    assert located.search(output), output
    # The GitHub annotation points at the same place.
    path, line, col = case.where.rsplit(":", 2)
    assert f"::error file={path},line={line},col={col},title=cxrecon {case.rule}::" in output
    assert CANARY not in output
    for form in base64_forms(CANARY.encode()):
        assert form.decode() not in output
    for line_text in output.splitlines():
        assert "\x1b" not in line_text
        if line_text.startswith("::"):
            assert "README.md" not in line_text.split("::")[1], line_text
