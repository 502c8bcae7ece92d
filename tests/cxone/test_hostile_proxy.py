"""What proxies do to HTTP does not break a run: a real proxy (bending_proxy.py) in front of
the emulator adds non-ASCII header bytes, weakens ETags or drops them from write answers, and
`cxrecon plan`, `drift`, `apply` and `reconcile --once` give a clear answer, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cli.main import cli
from reconciler.cxone.client import CxoneClient
from reconciler.cxone.errors import CxoneApiError, MalformedResponse
from reconciler.cxone.pacing import AdaptivePacer
from reconciler.cxone.parse import Origin, object_of
from reconciler.cxone.retry import RetryPolicy, parse_retry_after
from reconciler.testing import RunningEmulator

from .bending_proxy import BendingProxy, Passed
from .emulated import document
from .fakes import FakeCxone, FakeTime
from .fakes import settings as fake_settings

pytestmark = pytest.mark.timeout(120)

SECRET: Final = "proxy-suite-client-secret-51be"
API_KEY: Final = "proxy-suite-api-key-c07d2"


@pytest.fixture
def proxy(emulator: RunningEmulator) -> Iterator[BendingProxy]:
    with BendingProxy(emulator.root_url) as running:
        yield running


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    (root / "connectors").mkdir(parents=True)
    (root / "cxrecon.yaml").write_text("project: proxy-suite\n", encoding="utf-8")
    monkeypatch.chdir(root)
    for name in ("GITHUB_ACTOR", "GITHUB_SHA", "CI", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    return root


def connector(name: str, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": name,
        "description": f"{name} behind a proxy",
        "lifecycleStatus": "ACTIVE",
        "connectorType": "CUSTOM",
        "endpointUrl": f"https://{name.lower()}.crm.example/api",
        "authentication": {"type": "API_KEY", "credentials": {"apiKey": "${env:PROXY_API_KEY}"}},
        "mappings": [
            {"cxoneField": "contact.external_id", "crmField": "id", "direction": "INBOUND"}
        ],
    }
    doc.update(changes)
    return doc


def write(repo: Path, doc: dict[str, Any]) -> None:
    path = repo / "connectors" / f"{doc['name'].lower()}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def env_for(base_url: str) -> dict[str, str]:
    return {
        "CXONE_BASE_URL": base_url,
        "CXONE_CLIENT_ID": "demo-client",
        "CXONE_CLIENT_SECRET": "demo-secret",
        "PROXY_API_KEY": API_KEY,
        "NO_COLOR": "1",
    }


def run(args: list[str], env: dict[str, str]) -> Result:
    result = CliRunner().invoke(cli, args, env=env)
    assert "Traceback" not in result.output, result.output
    assert isinstance(result.exception, SystemExit | None), repr(result.exception)
    assert API_KEY not in result.output
    return result


def assert_no_raw_header_bytes(result: Result) -> None:
    for echoed in ("café", "caf\xc3", "\xff", "r\xe9seau", "\ufffd"):
        assert echoed not in result.output


def audit(repo: Path) -> list[dict[str, Any]]:
    """The audit log's records of what happened (a write-ahead intent is left out)."""
    path = repo / ".cxrecon" / "audit.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    records = [json.loads(line) for line in lines if line.strip()]
    return [r for r in records if r.get("event") != "intent"]


def audit_all(repo: Path) -> list[dict[str, Any]]:
    """Every record of the audit log, intents included."""
    path = repo / ".cxrecon" / "audit.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


# --- non-ASCII bytes in response headers ------------------------------------------------


def test_non_ascii_header_bytes_on_every_answer_break_no_command(
    proxy: BendingProxy, repo: Path
) -> None:
    env = env_for(proxy.base_url("non-ascii"))
    write(repo, connector("Alpha"))
    write(repo, connector("Beta", lifecycleStatus="DRAFT"))

    planned = run(["plan", "--detailed-exitcode"], env)
    assert planned.exit_code == 2, planned.output

    applied = run(["apply", "--auto-approve"], env)  # POST and PATCH answers
    assert applied.exit_code == 0, applied.output
    assert "2 applied, 0 failed" in applied.output
    assert [r["result"] for r in audit(repo)] == ["success"] * 3

    write(repo, connector("Alpha", description="changed behind the proxy"))
    updated = run(["apply", "--auto-approve"], env)
    assert updated.exit_code == 0, updated.output

    drift = run(["drift"], env)
    assert drift.exit_code == 0, drift.output
    for result in (planned, applied, updated, drift):
        assert_no_raw_header_bytes(result)
    bent = {(p.method, p.path.rsplit("/", 1)[-1]) for p in proxy.passed}
    assert {("POST", "token"), ("GET", "connectors"), ("POST", "connectors")} <= bent
    assert any(p.method == "PATCH" for p in proxy.passed)


def test_non_ascii_header_bytes_on_the_discovery_document(proxy: BendingProxy, repo: Path) -> None:
    env = env_for("")
    del env["CXONE_BASE_URL"]
    env["CXONE_DISCOVERY_URL"] = proxy.root_url("non-ascii") + "/.well-known/cxone-configuration"
    write(repo, connector("Alpha"))

    planned = run(["plan", "--detailed-exitcode"], env)

    assert planned.exit_code == 2, planned.output
    assert any(p.path.endswith("cxone-configuration") for p in proxy.passed)
    assert any(p.path.endswith("/crm/connectors") for p in proxy.passed)
    assert_no_raw_header_bytes(planned)


def test_non_ascii_header_bytes_in_a_controller_cycle(proxy: BendingProxy, repo: Path) -> None:
    write(repo, connector("Alpha"))
    for args in (
        ("init", "-q", "-b", "main"),
        ("add", "."),
        ("-c", "user.name=ci", "-c", "user.email=ci@example.invalid", "commit", "-qm", "c"),
    ):
        subprocess.run(("git", *args), cwd=repo, check=True, capture_output=True)
    env = env_for(proxy.base_url("non-ascii"))
    once = ["reconcile", "--repo", str(repo), "--once", "--listen", "off", "--no-pull"]

    result = run([*once, "--audit-log", str(repo.parent / "audit.jsonl")], env)

    assert result.exit_code == 0, result.output
    assert [p.method for p in proxy.writes("non-ascii")] == ["POST", "PATCH"]
    assert_no_raw_header_bytes(result)


# --- weak ETags ------------------------------------------------------------------------


def weak_lines(result: Result) -> list[str]:
    """The failure lines naming a weak ETag (the summary table repeats them as DETAIL)."""
    return [
        line for line in result.output.splitlines() if line.startswith("! ") and "is weak" in line
    ]


def assert_named_once(result: Result) -> None:
    said = weak_lines(result)
    assert len(said) == 1, result.output
    assert "ETag" in said[0]
    assert "W/" in said[0]
    assert "If-Match" in said[0]
    assert "compress" in said[0]  # the likely cause
    assert "changed in CXone" not in result.output


def test_a_weak_etag_from_a_server_is_named_once_and_never_sent_in_if_match(
    proxy: BendingProxy, repo: Path
) -> None:
    write(repo, connector("Alpha"))
    assert run(["apply", "--auto-approve"], env_for(proxy.base_url("clean"))).exit_code == 0
    write(repo, connector("Alpha", description="changed behind a weak server"))
    weak = env_for(proxy.base_url("weak-server"))

    result = run(["apply", "--auto-approve"], weak)

    assert result.exit_code == 1, result.output
    assert proxy.writes("weak-server") == []  # no PATCH at all, so no 412 and no retry
    assert_named_once(result)
    # Nothing was sent, so nothing is recorded as written: no intent, no outcome.
    assert [r for r in audit_all(repo) if r["action"] == "update"] == []
    # Read-only commands do not need If-Match: they work through the same server.
    assert run(["plan", "--detailed-exitcode"], weak).exit_code == 2


def test_a_compressing_proxy_weakening_a_create_answer_stops_before_the_next_write(
    proxy: BendingProxy, repo: Path
) -> None:
    write(repo, connector("Alpha"))  # ACTIVE: a POST as DRAFT, then a PATCH

    result = run(["apply", "--auto-approve"], env_for(proxy.base_url("weak-etag")))

    assert result.exit_code == 1, result.output
    assert [p.method for p in proxy.writes("weak-etag")] == ["POST"]
    assert_named_once(result)
    assert [(r["action"], r["event"], r["result"]) for r in audit_all(repo)] == [
        ("create", "intent", "pending"),
        ("create", "outcome", "success"),
    ]


# --- ETags missing from write answers ---------------------------------------------------


def test_a_write_answer_without_an_etag_is_read_back_not_failed(
    proxy: BendingProxy, repo: Path
) -> None:
    env = env_for(proxy.base_url("drop-write-etag"))
    write(repo, connector("Alpha"))

    created = run(["apply", "--auto-approve"], env)

    assert created.exit_code == 0, created.output
    assert "1 applied, 0 failed" in created.output
    assert [p.method for p in proxy.writes("drop-write-etag")] == ["POST", "PATCH"]
    records = audit(repo)
    assert [(r["action"], r["result"], r["httpStatus"]) for r in records] == [
        ("create", "success", 201),
        ("activate", "success", 200),
    ]
    assert records[0]["etagAfter"]
    assert records[0]["etagAfter"] == records[1]["etagBefore"]

    write(repo, connector("Alpha", description="updated, answer without ETag"))
    updated = run(["apply", "--auto-approve"], env)
    assert updated.exit_code == 0, updated.output
    assert audit(repo)[-1]["result"] == "success"
    assert run(["drift"], env).exit_code == 0


def test_a_change_between_an_etagless_answer_and_its_read_back_is_not_written_over(
    emulator: RunningEmulator, repo: Path
) -> None:
    edited: list[str] = []

    def ui_edit(passed: Passed) -> None:
        if passed.method == "PATCH" and not edited:  # right after cxrecon's first PATCH
            connector_id = passed.path.rsplit("/", 1)[-1]
            emulator.control.edit(connector_id, {"syncSettings": {"batchSize": 999}})
            edited.append(connector_id)

    with BendingProxy(emulator.root_url, after_write=ui_edit) as proxy:
        write(repo, connector("Alpha", lifecycleStatus="DRAFT"))
        assert run(["apply", "--auto-approve"], env_for(proxy.base_url("clean"))).exit_code == 0
        # Two writes: the description, then the activation.
        write(repo, connector("Alpha", description="new words"))

        result = run(["apply", "--auto-approve"], env_for(proxy.base_url("drop-write-etag")))

        assert result.exit_code == 0, result.output
        patches = [p.method for p in proxy.writes("drop-write-etag")]
        sent = len(proxy.writes("clean")) + len(patches)
    assert patches == ["PATCH", "PATCH"]  # the activation was refused once, unsent
    # One intent per write sent: the refused activation is not recorded as a write.
    intents = [r for r in audit_all(repo) if r["event"] == "intent"]
    assert len(intents) == sent
    assert all(r["result"] != "failure" for r in audit(repo) if r["action"] == "activate")
    assert edited
    stored = httpx.get(
        f"{emulator.base_url}/crm/connectors/{edited[0]}",
        headers=emulator.control.auth_headers(),
    ).json()
    assert stored["lifecycleStatus"] == "ACTIVE"
    assert stored["description"] == "new words"
    assert stored["syncSettings"]["batchSize"] == 999  # the other writer's edit is kept
    assert "conflict" in [r["action"] for r in audit(repo)]


def test_a_write_that_landed_with_an_unusable_answer_is_a_success_read_back(
    proxy: BendingProxy, repo: Path, emulator: RunningEmulator
) -> None:
    env = env_for(proxy.base_url("empty-write-body"))  # 201/200 with no body at all
    write(repo, connector("Alpha"))

    created = run(["apply", "--auto-approve"], env)

    assert created.exit_code == 0, created.output
    assert "1 applied, 0 failed" in created.output
    assert "failed" not in created.output.split("Apply finished")[0]
    # The create is never sent again: the connector read back is the one it made.
    assert [p.method for p in proxy.writes("empty-write-body")] == ["POST", "PATCH"]
    records = audit(repo)
    assert [
        (r["action"], r["result"], r["httpStatus"]) for r in records if r["event"] == "outcome"
    ] == [
        ("create", "success", 201),
        ("activate", "success", 200),
    ]
    listed = httpx.get(
        f"{emulator.base_url}/crm/connectors", headers=emulator.control.auth_headers()
    ).json()["items"]
    assert [(c["name"], c["lifecycleStatus"]) for c in listed] == [("Alpha", "ACTIVE")]
    assert run(["drift"], env_for(proxy.base_url("clean"))).exit_code == 0


# --- header values no parser expects -----------------------------------------------------


@pytest.mark.parametrize("value", ["²", "café", "1e999", "inf", "nan", "-"])
def test_odd_numeric_header_values_are_ignored_not_raised(value: str) -> None:
    assert parse_retry_after(value, now=0.0) is None or value.isascii()
    pacer = AdaptivePacer(2)
    pacer.observe(200, {"X-RateLimit-Limit": value, "X-RateLimit-Remaining": value})
    assert pacer.state().server_limit is None


def test_a_header_quoted_in_an_error_is_ascii_and_one_line() -> None:
    raw = [(b"Content-Type", "text/plain; café\r\x1b[31m".encode()), (b"X-Other", b"\xff")]
    response = httpx.Response(200, headers=raw, content=b"not json")
    origin = Origin("list_connectors", "GET", "/crm/connectors")
    with pytest.raises(MalformedResponse) as caught:
        object_of(response, origin)
    message = str(caught.value)
    assert message.isascii()
    assert "\x1b" not in message
    assert "\n" not in message
    assert "caf\\x" in message  # escaped, whichever way the bytes were decoded


# --- any header bytes, any call: a value or a CxoneApiError, never another exception -----

_HEADER_NAMES: Final = (
    b"ETag",
    b"Content-Type",
    b"Retry-After",
    b"X-RateLimit-Limit",
    b"X-RateLimit-Remaining",
    b"Location",
    b"X-Trace",
)
#: Any byte a proxy may put in a header value (h11 itself refuses CR, LF and NUL).
_VALUE: Final = st.binary(max_size=40).filter(lambda v: not set(v) & {0, 10, 13})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    bent=st.lists(st.tuples(st.sampled_from(_HEADER_NAMES), _VALUE), max_size=6),
    replace_etag=st.booleans(),
)
def test_any_header_bytes_end_in_a_value_or_an_api_error(
    bent: list[tuple[bytes, bytes]], replace_etag: bool
) -> None:
    fake, time = FakeCxone(), FakeTime()
    fake.add("a")

    async def bend(request: httpx.Request) -> httpx.Response:
        answer = await fake.handle(request)
        names = {name.lower() for name, _ in bent} if replace_etag else set()
        kept = [(k, v) for k, v in answer.headers.raw if k.lower() not in names]
        return httpx.Response(answer.status_code, headers=kept + bent, content=answer.content)

    said: list[str] = []

    async def every_call() -> None:
        client = CxoneClient(
            fake_settings(),
            retry=RetryPolicy(sleep=time.sleep, clock=time.clock, wall_clock=time.wall),
            transport=httpx.MockTransport(bend),
            pacer=AdaptivePacer(8, clock=time.clock, sleep=time.sleep),
        )
        async with client:
            for call in (
                client.list_connectors,
                lambda: client.get_connector("c000001"),
                lambda: client.create_connector(document("b"), idempotency_key="k-1"),
            ):
                try:
                    await call()
                except CxoneApiError as error:
                    said.append(str(error))
            try:
                current = await client.get_connector("c000001")
                await client.patch_connector("c000001", etag=current.etag, body={"version": "2"})
            except CxoneApiError:
                pass

    asyncio.run(every_call())
    for message in said:  # nothing of a header's bytes is echoed raw (… and → are ours)
        assert all(ch.isascii() or ch in "…→" for ch in message), message
