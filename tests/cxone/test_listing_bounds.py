"""A listing that never ends stops at CXONE_MAX_CONNECTORS or CXONE_MAX_LISTING_BYTES with one
line naming the setting, exit 1, and `cxrecon plan` stays under 600 MB whatever the server
sends (listing_server.py: a huge total, a total that lies, skip ignored, pages that never
shrink). A tenant within the bounds is listed whole, as before."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from click.testing import CliRunner

from reconciler.cli.main import cli
from reconciler.config.project import load_project
from reconciler.config.settings import (
    DEFAULT_MAX_CONNECTORS,
    DEFAULT_MAX_LISTING_BYTES,
    ConnectionSettings,
)
from reconciler.cxone.bounded import SharedCap
from reconciler.cxone.client import CxoneClient
from reconciler.cxone.errors import ListingTooLarge
from reconciler.errors import ConfigError
from reconciler.testing import InProcessEmulator

from .emulated import IN_PROCESS_BASE, seed
from .listing_server import ListingServer

pytestmark = pytest.mark.timeout(240)

ROOT: Final = Path(__file__).resolve().parents[2]
MB: Final = 1024 * 1024
#: The issue's bound on a plan's peak memory, whatever the server sends.
PEAK_BOUND_MB: Final = 600
#: The child's address space is capped well above the bound, so a regression ends in a
#: MemoryError there instead of taking the machine's memory.
CHILD_ADDRESS_SPACE: Final = 3 * 1024 * MB
CREDENTIALS: Final = {"CXONE_CLIENT_ID": "listing-suite", "CXONE_CLIENT_SECRET": "s3cr3t-listing"}


@pytest.fixture(scope="module")
def server() -> Iterator[ListingServer]:
    with ListingServer() as running:
        yield running


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "connectors").mkdir()
    shutil.copy(ROOT / "connectors" / "legacy-zendesk-basic.yaml", tmp_path / "connectors")
    return tmp_path


#: Caps its own address space, then becomes `cxrecon plan` (same process, so wait4 measures
#: it); no preexec_fn, which is unsafe while the server's thread runs in this process.
_CAPPED_PLAN: Final = (
    "import os, resource, sys\n"
    f"resource.setrlimit(resource.RLIMIT_AS, ({CHILD_ADDRESS_SPACE}, {CHILD_ADDRESS_SPACE}))\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'reconciler', 'plan', 'connectors'])\n"
)


def plan_in_a_child(project: Path, env: dict[str, str]) -> tuple[int, str, int]:
    """`cxrecon plan` as a process: its exit code, stderr and peak RSS in MB (wait4's
    ru_maxrss of that one child)."""
    errors = project / "stderr.txt"
    with errors.open("wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", _CAPPED_PLAN],
            cwd=project,
            env={**os.environ, **env, "NO_COLOR": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            if child.poll() is None:
                child.kill()
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, errors.read_text(encoding="utf-8"), usage.ru_maxrss // 1024


def assert_one_line_naming(stderr: str, setting: str, server: ListingServer) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: list_connectors: ")
    assert setting in lines[0]
    assert server.host in lines[0]
    assert "Traceback" not in stderr
    assert CREDENTIALS["CXONE_CLIENT_SECRET"] not in stderr


# --- the default bounds, measured --------------------------------------------------------


@pytest.mark.slow  # ~20 s on a loaded 2-core machine: parsing 256 MiB worth of mappings
@pytest.mark.parametrize(
    ("mode", "setting"),
    [
        ("huge-total", "CXONE_MAX_CONNECTORS=50000"),
        ("lying-total", "CXONE_MAX_LISTING_BYTES=256 MiB"),
    ],
)
def test_a_hostile_listing_stops_at_the_default_bound_under_600_mb(
    server: ListingServer, project: Path, mode: str, setting: str
) -> None:
    env = {"CXONE_BASE_URL": server.base_url(mode), **CREDENTIALS}

    code, stderr, peak_mb = plan_in_a_child(project, env)

    assert code == 1, stderr
    assert_one_line_naming(stderr, setting, server)
    assert peak_mb < PEAK_BOUND_MB, f"{mode}: peak RSS {peak_mb} MB"
    print(f"{mode}: peak RSS {peak_mb} MB, {server.pages_sent.get(mode)} pages")


# --- every way a listing can go on, in process with small bounds ---------------------------


@pytest.mark.parametrize(
    ("mode", "env", "says"),
    [
        ("huge-total", {}, "the tenant lists 1000000 connectors (totalRecords), more than"),
        ("lying-total", {"CXONE_MAX_LISTING_BYTES": "16MiB"}, "CXONE_MAX_LISTING_BYTES=16 MiB"),
        ("endless", {"CXONE_MAX_LISTING_BYTES": "16MiB"}, "CXONE_MAX_LISTING_BYTES=16 MiB"),
        ("endless-small", {"CXONE_MAX_CONNECTORS": "1500"}, "past CXONE_MAX_CONNECTORS=1500"),
        ("ignore-skip", {}, "the page at skip=100 holds the first page's connectors again"),
    ],
)
def test_every_endless_listing_ends_in_one_line(
    server: ListingServer,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    env: dict[str, str],
    says: str,
) -> None:
    monkeypatch.chdir(project)
    full_env = {"CXONE_BASE_URL": server.base_url(mode), **CREDENTIALS, **env, "NO_COLOR": "1"}

    result = CliRunner().invoke(cli, ["plan", "connectors"], env=full_env)

    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert says in lines[0]
    assert "created or deleted" not in lines[0]  # nobody did: the server misread the request


def test_a_page_larger_than_its_share_of_the_bound_is_refused(
    server: ListingServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    env = {"CXONE_BASE_URL": server.base_url("endless"), **CREDENTIALS}
    env["CXONE_MAX_LISTING_BYTES"] = "32MiB"  # a page may take 2 MiB; these take 4.6 MB

    result = CliRunner().invoke(cli, ["plan", "connectors"], env=env)

    assert result.exit_code == 1
    assert "a page of the listing passed 2 MiB, the most one page may take of" in result.stderr
    assert "CXONE_MAX_LISTING_BYTES=32 MiB" in result.stderr


# --- within the bounds --------------------------------------------------------------------


def client_for(
    emulator: InProcessEmulator,
    max_connectors: int = DEFAULT_MAX_CONNECTORS,
    max_listing_bytes: int = DEFAULT_MAX_LISTING_BYTES,
) -> CxoneClient:
    settings = dataclasses.replace(
        ConnectionSettings.for_emulator(IN_PROCESS_BASE),
        max_connectors=max_connectors,
        max_listing_bytes=max_listing_bytes,
    )
    return CxoneClient(settings, transport=emulator.transport())


@pytest.mark.anyio
async def test_a_tenant_at_the_bound_is_listed_whole_and_one_more_is_refused(
    emulator_app: InProcessEmulator,
) -> None:
    seed(emulator_app.runtime, 250)
    async with client_for(emulator_app, max_connectors=250) as client:
        listed = await client.list_connectors()
    assert len({c.id for c in listed}) == 250
    async with client_for(emulator_app, max_connectors=249) as client:
        with pytest.raises(ListingTooLarge, match="CXONE_MAX_CONNECTORS=249") as caught:
            await client.list_connectors()
    assert "raise the setting" in str(caught.value)


@pytest.mark.anyio
async def test_the_byte_bound_counts_what_the_listing_holds(
    emulator_app: InProcessEmulator,
) -> None:
    seed(emulator_app.runtime, 300)
    async with client_for(emulator_app, max_listing_bytes=4 * MB) as client:
        assert len(await client.list_connectors()) == 300
    async with client_for(emulator_app, max_listing_bytes=64 * 1024) as client:
        with pytest.raises(ListingTooLarge, match="CXONE_MAX_LISTING_BYTES=64 KiB"):
            await client.list_connectors()


def test_pages_read_at_once_share_the_cap_and_a_failed_one_gives_its_bytes_back() -> None:
    cap = SharedCap(100, lambda one: ListingTooLarge("over", operation="x"), per_answer=60)
    cap.charge(40, 40)
    cap.charge(40, 40)  # another page, read at the same time
    cap.refund(40)  # that attempt failed: its bytes are not held
    cap.charge(50, 50)
    with pytest.raises(ListingTooLarge):
        cap.charge(20, 20)  # 110 together
    assert cap.tripped
    with pytest.raises(ListingTooLarge):
        cap.charge(1, 1)  # once passed, always passed
    one = SharedCap(1000, lambda one: ValueError(f"one page: {one}"), per_answer=60)
    with pytest.raises(ValueError, match="one page: True"):
        one.charge(61, 61)


# --- the settings -------------------------------------------------------------------------


BASE: Final = {"CXONE_BASE_URL": "http://127.0.0.1:9/api/v2", **CREDENTIALS}


def test_the_bounds_default_to_50000_connectors_and_256_mib() -> None:
    settings = ConnectionSettings.from_sources(BASE)
    assert settings.max_connectors == DEFAULT_MAX_CONNECTORS == 50_000
    assert settings.max_listing_bytes == DEFAULT_MAX_LISTING_BYTES == 256 * MB


@pytest.mark.parametrize(
    ("values", "connectors", "size"),
    [
        ({"CXONE_MAX_CONNECTORS": "120000"}, 120_000, 256 * MB),
        ({"CXONE_MAX_LISTING_BYTES": "1GiB"}, 50_000, 1024 * MB),
        ({"CXONE_MAX_LISTING_BYTES": "512 MiB"}, 50_000, 512 * MB),
        ({"CXONE_MAX_LISTING_BYTES": "1048576"}, 50_000, MB),
    ],
)
def test_the_bounds_are_read_from_the_environment(
    values: dict[str, str], connectors: int, size: int
) -> None:
    settings = ConnectionSettings.from_sources({**BASE, **values})
    assert (settings.max_connectors, settings.max_listing_bytes) == (connectors, size)


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"CXONE_MAX_CONNECTORS": "0"}, "CXONE_MAX_CONNECTORS must be a count"),
        ({"CXONE_MAX_CONNECTORS": "10k"}, "CXONE_MAX_CONNECTORS must be a count"),
        ({"CXONE_MAX_LISTING_BYTES": "-1"}, "CXONE_MAX_LISTING_BYTES must be a number of bytes"),
        ({"CXONE_MAX_LISTING_BYTES": "2 TB"}, "such as 268435456 or 256MiB"),
    ],
)
def test_a_bad_bound_is_a_config_error_naming_it(values: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        ConnectionSettings.from_sources({**BASE, **values})


def test_the_bounds_can_be_set_per_environment_in_cxrecon_yaml(tmp_path: Path) -> None:
    (tmp_path / "cxrecon.yaml").write_text(
        "project: bounds\nenvironments:\n  big:\n    baseUrl: http://127.0.0.1:9/api/v2\n"
        "    maxConnectors: 200000\n    maxListingBytes: 1GiB\n",
        encoding="utf-8",
    )
    connection = load_project(tmp_path).environments["big"].connection
    settings = ConnectionSettings.from_sources(CREDENTIALS, connection)
    assert (settings.max_connectors, settings.max_listing_bytes) == (200_000, 1024 * MB)
    # The environment variable wins, as for every connection setting.
    settings = ConnectionSettings.from_sources(
        {**CREDENTIALS, "CXONE_MAX_CONNECTORS": "7"}, connection
    )
    assert settings.max_connectors == 7
