"""`cxrecon status` finds the controller where `reconcile --listen` recorded its address
(.cxrecon/controller.json), says so when none is recorded or none answers before planning
instead, and `cxrecon_controller_info` names the environment the cycles resolved (issue 24)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli.main import cli
from reconciler.controller.address import ADDRESS_FILE, record, url_of
from reconciler.testing import RunningEmulator

from .helpers import ConnectorsRepo, ControllerFactory, connector_yaml
from .page_support import ControllerThread


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder (one connector) as the working directory, no CXRECON_STATUS_URL."""
    folder = tmp_path / "team"
    (folder / "connectors").mkdir(parents=True)
    (folder / "connectors" / "alpha.yaml").write_text(connector_yaml("Alpha"))
    monkeypatch.chdir(folder)
    monkeypatch.delenv("CXRECON_STATUS_URL", raising=False)
    return folder


def test_status_reads_the_address_the_running_controller_recorded(
    make_controller: ControllerFactory, here: Path
) -> None:
    controller = make_controller(interval=3600)
    controller.record_address_in = here
    with ControllerThread(controller) as running:
        running.wait_for_cycle(1)
        recorded = json.loads((here / ADDRESS_FILE).read_text())
        result = CliRunner().invoke(cli, ["status"])
        metrics = controller.metrics()[0].decode()

    assert recorded["url"] == running.url
    assert result.exit_code == 0, result.output
    assert f"Controller at {running.url}" in result.stdout
    assert result.stderr == ""
    assert not (here / ADDRESS_FILE).exists()  # removed at stop
    # No -e, no environments: the implicit default is not named (as plans say it).
    assert 'cxrecon_controller_info{environment="",mode="apply"' in metrics


def test_status_says_no_controller_is_known_before_planning(
    emulator: RunningEmulator, here: Path
) -> None:
    env = {
        "CXONE_BASE_URL": emulator.base_url,
        "CXONE_CLIENT_ID": "demo-client",
        "CXONE_CLIENT_SECRET": "demo-secret",
    }

    result = CliRunner().invoke(cli, ["status"], env=env)

    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"no controller address: none recorded in {ADDRESS_FILE} (`cxrecon reconcile --listen` "
        "writes it where it runs) and no --url or CXRECON_STATUS_URL; planning once against "
        "the tenant instead."
    ]
    assert "Planned once against environment default (no controller):" in result.stdout


def test_a_recorded_controller_that_does_not_answer_is_named(
    emulator: RunningEmulator, here: Path
) -> None:
    url = url_of("0.0.0.0", free_port())  # noqa: S104 - what a controller listening on all says
    assert record(here, url, repo=here, environment=None) == here / ADDRESS_FILE
    env = {
        "CXONE_BASE_URL": emulator.base_url,
        "CXONE_CLIENT_ID": "demo-client",
        "CXONE_CLIENT_SECRET": "demo-secret",
    }

    result = CliRunner().invoke(cli, ["status", "--timeout", "2"], env=env)

    assert url.startswith("http://127.0.0.1:")
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"no controller answers at {url} (connection refused) (the address recorded in "
        f"{ADDRESS_FILE}); planning once against the tenant instead."
    ]


def test_controller_info_names_the_environment_cxrecon_yaml_resolves(
    make_controller: ControllerFactory, repo: ConnectorsRepo
) -> None:
    repo.commit(
        {
            "cxrecon.yaml": "project: controller-tests\nconnectors: connectors/\n"
            "environments:\n  production: {}\n"
        }
    )
    controller = make_controller(interval=3600)

    with ControllerThread(controller) as running:
        running.wait_for_cycle(1)
        metrics = controller.metrics()[0].decode()
        status = json.loads(controller.status_json())

    assert 'cxrecon_controller_info{environment="production",mode="apply"' in metrics
    assert status["environment"] == "production"


def test_a_recorded_address_off_this_machine_is_never_asked(
    emulator: RunningEmulator, here: Path
) -> None:
    # The repository is untrusted: a committed .cxrecon/controller.json must not send
    # `cxrecon status` to another host (nor print what that host answers).
    (here / ".cxrecon").mkdir()
    (here / ADDRESS_FILE).write_text('{"url": "http://status.attacker.invalid:9108"}\n')
    env = {
        "CXONE_BASE_URL": emulator.base_url,
        "CXONE_CLIENT_ID": "demo-client",
        "CXONE_CLIENT_SECRET": "demo-secret",
    }

    result = CliRunner().invoke(cli, ["status", "--timeout", "2"], env=env)

    assert result.exit_code == 2, result.output
    assert "attacker" not in result.output
    assert result.stderr.startswith("no controller address: none recorded in")
