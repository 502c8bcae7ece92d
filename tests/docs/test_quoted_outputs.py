"""Command output quoted in README.md and docs/*.md is what the commands print.

A quoted session (`$ cxrecon …` and the lines it printed) sits under an `<!-- output: NAME -->`
comment naming a story below. The story brings real emulators into the state the document
describes, runs the quoted command lines there and keeps what they print; every quoted line
(`…` skips lines) must be a line of that output, in order, once connector ids and times are
made comparable.
"""

from __future__ import annotations

import http.server
import re
import shlex
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import httpx
import pytest
from click.testing import CliRunner

from reconciler.cli.main import cli
from reconciler.testing import RunningEmulator, start_emulator

from .documents import REPO, Block, blocks

#: The environment every story's commands run in: the emulators' OAuth client, the sample
#: connectors' secrets (canary-free placeholders), no colour and nothing of the caller's.
ENV: Final[dict[str, str | None]] = {
    "NO_COLOR": "1",
    "GITHUB_ACTIONS": None,
    "GITHUB_STEP_SUMMARY": None,
    "CXONE_BASE_URL": None,
    "CXONE_SCOPES": None,
    "CXRECON_ENVIRONMENT": None,
    "CXRECON_PROJECT": None,
    "CXONE_CLIENT_ID": "demo-client",
    "CXONE_CLIENT_SECRET": "demo-secret",
    "SALESFORCE_CLIENT_SECRET": "placeholder-1",
    "LEGACY_TICKETING_PASSWORD": "placeholder-2",
    "SUPPORT_DESK_API_KEY": "placeholder-3",
}
Outputs = dict[str, str]
#: The README's environments, each its own tenant (an emulator).
TENANTS: Final = ("sandbox", "production")


def quoted_sessions(block: Block) -> list[tuple[str, list[str]]]:
    """The block's `$ cxrecon …` lines, each with the lines quoted after it."""
    sessions: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            sessions.append((line[2:].strip(), []))
        elif sessions:
            sessions[-1][1].append(line)
    return [(command, lines) for command, lines in sessions if command.startswith("cxrecon ")]


QUOTED: Final = [b for b in blocks() if any(lines for _, lines in quoted_sessions(b))]


def normal(line: str) -> str:
    line = re.sub(r"conn_[0-9a-f]+", "conn_ID", line.rstrip())
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?", "TIME", line)


def assert_quoted(quoted: list[str], printed: str, where: str) -> None:
    """Each quoted line, in order, is a line of the output (`…` and blank lines skipped)."""
    lines = [normal(line) for line in printed.splitlines()]
    at = 0
    for line in (normal(q) for q in quoted):
        if line.strip() in ("", "…"):
            continue
        assert line in lines[at:], f"{where}: not printed (in this order): {line!r}\n{printed}"
        at = lines.index(line, at) + 1


# --- the stories ------------------------------------------------------------------------------


class Project:
    """A copy of this repository's project, its environments on emulators; commands run in it."""

    def __init__(self, root: Path, environments: dict[str, RunningEmulator]) -> None:
        self.root = root
        shutil.copytree(REPO / "connectors", root / "connectors")
        (root / ".secrets").mkdir()
        (root / ".secrets" / "dynamics-client-secret").write_text("placeholder-4\n")
        text = (REPO / "cxrecon.yaml").read_text(encoding="utf-8")
        if environments:
            # The README's environments: sandbox and production, each its own tenant.
            text = re.sub(r"\n  local:\n(?:    .*\n|\n)*?(?=  sandbox:)", "\n", text)
            text = text.replace("defaultEnvironment: local", "defaultEnvironment: sandbox")
            for name, emulator in environments.items():
                pattern = rf"(  {name}:\n(?:    .*\n)*?    baseUrl: )\S+"
                text = re.sub(pattern, rf"\g<1>{emulator.base_url}", text)
        (root / "cxrecon.yaml").write_text(text, encoding="utf-8")
        self.outputs: Outputs = {}

    def append_to_project_file(self, text: str) -> None:
        path = self.root / "cxrecon.yaml"
        path.write_text(path.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")

    def run(self, command: str, env: dict[str, str | None] | None = None) -> str:
        """Run `cxrecon …` here; its output is kept under the command line."""
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(self.root)
            result = CliRunner().invoke(cli, shlex.split(command)[1:], env={**ENV, **(env or {})})
        assert result.exception is None or isinstance(result.exception, SystemExit), command
        self.outputs[command] = result.output
        return result.output


def connector_id(emulator: RunningEmulator, name: str) -> str:
    listing = httpx.get(
        f"{emulator.base_url}/crm/connectors",
        params={"top": 100},
        headers=emulator.control.auth_headers(),
        timeout=10,
    ).json()
    [found] = [c for c in listing["items"] if c["name"] == name]
    return str(found["id"])


def second_apply(tmp: Path, _: dict[str, RunningEmulator]) -> Outputs:
    """The README's set-up: apply against the embedded emulator, then once more."""
    project = Project(tmp / "second-apply", {})
    project.run("cxrecon apply --emulator --auto-approve")
    project.run("cxrecon apply --emulator --auto-approve")
    return project.outputs


def two_tenants(tmp: Path, tenants: dict[str, RunningEmulator]) -> Outputs:
    """Both environments applied; a change merged and applied to sandbox only; then a
    connector deleted in sandbox's CXone UI."""
    project = Project(tmp / "two-tenants", tenants)
    project.run("cxrecon apply -e sandbox --auto-approve")
    project.run("cxrecon apply -e production --auto-approve")
    salesforce = project.root / "connectors" / "salesforce-contacts.yaml"
    text = salesforce.read_text(encoding="utf-8").replace("batchSize: 500", "batchSize: 250")
    text = text.replace(
        "crmField: MobilePhone\n    direction: INBOUND",
        "crmField: MobilePhone\n    direction: BIDIRECTIONAL",
    )
    salesforce.write_text(text, encoding="utf-8")
    project.run("cxrecon apply -e sandbox --auto-approve")
    project.run("cxrecon plan -e production")
    project.run("cxrecon plan -e all")
    tenants["sandbox"].control.delete(connector_id(tenants["sandbox"], "Support-Desk-Cases"))
    project.run("cxrecon plan")
    project.run("cxrecon drift")
    return project.outputs


def reviewed_apply(tmp: Path, tenants: dict[str, RunningEmulator]) -> Outputs:
    """A reviewed plan of a batchSize change; then an unrelated edit in the CXone UI."""
    project = Project(tmp / "reviewed", tenants)
    project.run("cxrecon apply -e sandbox --auto-approve")
    salesforce = project.root / "connectors" / "salesforce-contacts.yaml"
    text = salesforce.read_text(encoding="utf-8").replace("batchSize: 500", "batchSize: 250")
    salesforce.write_text(text, encoding="utf-8")
    project.run("cxrecon plan -e sandbox --out plan.json")
    edited = connector_id(tenants["sandbox"], "Salesforce-Contact-Sync")
    tenants["sandbox"].control.edit(edited, {"syncSettings": {"retryAttempts": 5}})
    project.run("cxrecon apply -e sandbox --plan plan.json --if-stale reviewed")
    project.run("cxrecon drift -e sandbox")
    return project.outputs


def dump_ignored(tmp: Path, tenants: dict[str, RunningEmulator]) -> Outputs:
    """A new repository dumping production with the ignoreDifferences rules of
    docs/configuration.md (the sample connectors are on that tenant)."""
    seeded = Project(tmp / "seed", tenants)
    seeded.run("cxrecon apply -e production --auto-approve")
    project = Project(tmp / "dump", tenants)
    shutil.rmtree(project.root / "connectors")
    [rules] = [b for b in blocks("yaml") if b.text.lstrip().startswith("project: crm-int")]
    ignore = rules.text[rules.text.index("ignoreDifferences:") :]
    project.append_to_project_file(ignore)
    project.run("cxrecon dump -e production --out connectors/")
    return project.outputs


class _Webhook(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def notify_test(tmp: Path, _: dict[str, RunningEmulator]) -> Outputs:
    """docs/notifications.md's destinations: team-chat reachable, release-log's variable unset."""
    pytest.importorskip("apprise")
    project = Project(tmp / "notify", {})
    [block] = [b for b in blocks("yaml") if b.text.startswith("notifications:\n  - name: team-c")]
    project.append_to_project_file(block.text)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {
            "TEAMS_WEBHOOK_URL": f"json://127.0.0.1:{server.server_address[1]}/teams",
            "SLACK_RELEASES_URL": None,
        }
        project.run("cxrecon notify test", env)
        project.run("cxrecon notify test --name team-chat", env)
    finally:
        server.shutdown()
        server.server_close()
    return project.outputs


STORIES: Final[dict[str, Callable[[Path, dict[str, RunningEmulator]], Outputs]]] = {
    "second-apply": second_apply,
    "pending-update": two_tenants,
    "across-environments": two_tenants,
    "deleted-in-cxone": two_tenants,
    "reviewed-apply": reviewed_apply,
    "dump-ignored": dump_ignored,
    "notify-test": notify_test,
}


@pytest.fixture(scope="module")
def told(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Outputs]]:
    """Each story, run once for the module on its own pair of tenants."""
    emulators: list[RunningEmulator] = []
    done: dict[Callable[..., Outputs], Outputs] = {}

    def tell(name: str) -> Outputs:
        story = STORIES[name]
        if story not in done:
            tmp = tmp_path_factory.mktemp(name)
            tenants = {}
            if story in (two_tenants, reviewed_apply, dump_ignored):
                tenants = {e: start_emulator(tmp / f"{e}.sqlite") for e in TENANTS}
                emulators.extend(tenants.values())
            done[story] = story(tmp, tenants)
        return done[story]

    yield tell
    for emulator in emulators:
        emulator.stop()


def test_every_quoted_output_names_its_story() -> None:
    assert len(QUOTED) >= 6
    unnamed = [b.where for b in QUOTED if b.marker.removeprefix("output: ") not in STORIES]
    assert unnamed == [], "quoted output without an <!-- output: STORY --> comment"


@pytest.mark.parametrize("block", QUOTED, ids=[b.where for b in QUOTED])
def test_quoted_output_is_what_the_command_prints(
    block: Block, told: Callable[[str], Outputs]
) -> None:
    outputs = told(block.marker.removeprefix("output: "))
    for command, quoted in quoted_sessions(block):
        assert command in outputs, f"{block.where}: the story does not run `{command}`"
        assert_quoted(quoted, outputs[command], f"{block.where}: `{command}`")
