"""Fixtures shared by every test: the anyio backend and CXone emulators (over a real port or
in-process). Each emulator gets a fresh SQLite file under tmp_path.

Process-level, leak-campaign, soak-style and tool-driven modules are marked `slow` here, in
one list, so `pytest -m "not slow"` is a fast inner loop; the default `pytest` (and
`.ci/run`) still runs everything.

Runs are spread over every core by pytest-xdist (`-n logical --dist loadfile`, pyproject.toml):
each worker is a process of its own (own environment, cache key, temporary folders; every
server binds port 0), a module runs whole on one worker (its module-scoped fixtures, such as
the leak campaign, are computed once), and the slow modules are handed out first so none is
left running alone at the end. A run that names test files or tests (`pytest
tests/x/test_y.py -k z`) stays in one process: starting workers would cost more (`-n 0`
keeps any run in one; `--pdb` does by itself)."""

from __future__ import annotations

import faulthandler
import logging
import os
import shutil
import ssl
import tempfile
import threading
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import IO

import pytest
from hypothesis import settings

from reconciler.emulator.app import create_app
from reconciler.emulator.config import EmulatorConfig
from reconciler.testing import InProcessEmulator, RunningEmulator, start_emulator

#: Modules (or single tests) that start processes, drive outside tools, or run long
#: generated campaigns.
SLOW_MODULES: frozenset[str] = frozenset(
    {
        "tests/security/test_no_secret_leaks.py",  # every command as a process, DEBUG logs
        "tests/security/test_hostile_files.py",  # cxrecon validate as a process per case
        "tests/security/test_full_disk.py",  # processes in a mount namespace on a tmpfs
        "tests/security/test_hostile_server.py",  # servers that trickle, flood and bomb
        "tests/controller/test_process.py",  # `cxrecon reconcile` as a process, signals
        "tests/apply/test_kill.py",  # apply killed mid-run, re-run converges
        "tests/apply/test_terminal.py",  # apply on a pseudo-terminal
        "tests/emulator/test_openapi_conformance.py",  # schemathesis over every operation
        "tests/controller/test_deploy_image.py",  # builds the wheel as the Dockerfile does
        "tests/github/test_workflow_zizmor.py",  # zizmor over the workflows
        "tests/load/test_properties.py",  # hypothesis: generated connectors and mutations
        "tests/properties/test_convergence.py",  # the stateful convergence machine
        # hypothesis: both schema validators agree on generated mutations
        "tests/load/test_fast_schema.py::test_both_validators_agree_on_generated_mutations",
        # validate as a process, interrupted mid-load
        "tests/load/test_one_process.py::test_ctrl_c_stops_a_large_validate_with_nothing_left",
        "tests/load/test_published_schemas.py",  # check-jsonschema as a process per corpus
        "tests/apply/test_interrupt.py",  # apply as a process, signalled mid-write
        "tests/apply/test_interrupt_signals_property.py",  # signals at generated moments
        "tests/apply/test_interrupt_property.py",  # hypothesis: an interruption at any request
        "tests/security/test_boundary_property.py",  # hypothesis: links, every command
        "tests/properties/test_tenant_roundtrip.py",  # hypothesis: bodies through the API
        "tests/notify/test_slow_receiver.py",  # waits out a destination that never answers
        "tests/controller/test_page_browser.py",  # a headless browser
        # hypothesis, hundreds of generated specs and documents
        "tests/plan/test_desired_digest.py::test_the_digest_equals_one_canonical_document_of_every_spec",
        "tests/plan/test_diff_cost.py::test_the_direct_diff_agrees_with_deepdiff_on_generated_connectors",
        "tests/plan/test_diff_cost.py::test_the_direct_diff_agrees_with_deepdiff_on_any_json_shape",
        "tests/emulator/test_schema_agreement.py::test_the_api_and_the_published_schema_take_the_same_connectors",
    }
)

# Every property test is reproducible and keeps no example database: the same examples on
# every run and in every pytest-xdist worker (which would otherwise share .hypothesis/). A
# test's own @settings still sets its budget; `--hypothesis-profile NAME` picks another.
settings.register_profile("cxrecon-tests", derandomize=True, database=None)
settings.load_profile("cxrecon-tests")


# First: deselection (`-m "not slow"`) reads the `slow` marks this adds.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath
    for item in items:
        module = item.path.relative_to(root).as_posix()
        if module in SLOW_MODULES or f"{module}::{item.name}" in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
    if hasattr(config, "workerinput"):
        # A pytest-xdist worker (every worker sorts alike): the scheduler hands the modules
        # out in this order (--no-loadscope-reorder), so the long ones start first and short
        # ones fill the gaps after them. A stable sort: each module's order is kept.
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n logical`: every core (pytest-xdist's count) for the suite or its folders, none for a
    run that names test files or tests, where starting the workers costs more than they save."""
    named = [arg for arg in config.args if arg.split("::")[0].endswith(".py")]
    if config.args and len(named) == len(config.args):
        return 0
    return None


#: Seconds after which a test that is still running is taken as hung: every thread's stack is
#: written to stderr and the run ends (exit 1). pytest-timeout (300 s, pyproject) fails a
#: slow test first; this one also ends a hang where no Python signal handler can run (a
#: thread blocked in C while holding the GIL), which would otherwise stall CI until its limit.
HANG_SECONDS = 420


_REAL_STDERR: list[IO[str]] = []
#: The cache key's variable, and the value this test run chose for it (not the user).
KEY_FILE = "CXRECON_CACHE_KEY_FILE"
OWN_KEY_FILE = "CXRECON_TESTS_OWN_KEY_FILE"
_KEY_FOLDERS: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    # The stderr the run was started with: during a test, fd 2 is pytest's capture file,
    # which is lost when the watchdog ends the process.
    capture = getattr(config.pluginmanager.getplugin("capturemanager"), "_global_capturing", None)
    saved = getattr(getattr(capture, "err", None), "targetfd_save", None)
    fd = saved if isinstance(saved, int) else 2
    _REAL_STDERR.append(os.fdopen(os.dup(fd), "w"))
    # The cache's key (reconciler.load.cache_key) in a folder of this process, not in the
    # home folder of whoever runs the tests; commands started as processes inherit it. A
    # pytest-xdist worker inherits the variable its controller set, and makes its own.
    given = os.environ.get(KEY_FILE)
    if given is None or given == os.environ.get(OWN_KEY_FILE):
        keys = tempfile.mkdtemp(prefix="cxrecon-test-keys-")
        _KEY_FOLDERS.append(keys)
        os.environ[KEY_FILE] = os.environ[OWN_KEY_FILE] = os.path.join(keys, "cache.key")


def pytest_unconfigure(config: pytest.Config) -> None:
    while _REAL_STDERR:
        _REAL_STDERR.pop().close()
    while _STOPPING:
        _STOPPING.pop().join(30)
    while _KEY_FOLDERS:
        shutil.rmtree(_KEY_FOLDERS.pop(), ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None]:
    out: IO[str] | int = _REAL_STDERR[0] if _REAL_STDERR else 2
    # A test allowed longer by its own pytest-timeout mark gets that long, plus a margin.
    marker = item.get_closest_marker("timeout")
    allowed = float(marker.args[0]) + 120 if marker is not None and marker.args else 0.0
    faulthandler.dump_traceback_later(max(HANG_SECONDS, allowed), exit=True, file=out)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture(autouse=True, scope="session")
def _one_default_tls_context() -> Iterator[None]:
    """Every httpx client of the process verifies with one default TLS context: httpx reads
    its CA bundle afresh for each client (~20 ms), a fifth of the time of the tests that run
    commands in-process, for clients that speak plain http to 127.0.0.1. Only the default
    (verify=True, no client certificate) is shared, and per SSL_CERT_FILE/SSL_CERT_DIR."""
    from httpx._config import create_ssl_context as make

    made: dict[tuple[str | None, str | None], ssl.SSLContext] = {}

    def shared(
        verify: ssl.SSLContext | str | bool = True, cert: object = None, trust_env: bool = True
    ) -> ssl.SSLContext:
        if verify is not True or cert is not None or not trust_env:
            return make(verify=verify, cert=cert, trust_env=trust_env)  # type: ignore[arg-type]
        key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        if key not in made:
            made[key] = make(verify=verify, trust_env=trust_env)
        return made[key]

    with pytest.MonkeyPatch.context() as patch:
        # Where HTTPTransport looks the function up.
        patch.setattr("httpx._transports.default.create_ssl_context", shared)
        yield


EmulatorFactory = Callable[..., RunningEmulator]
EmulatorAppFactory = Callable[..., InProcessEmulator]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def emulator_factory(tmp_path: Path) -> Iterator[EmulatorFactory]:
    """Start emulators on real ports: `emulator_factory(EmulatorConfig(rate_limit=5))`.

    `db_path` defaults to a fresh file; pass the same path again to test a restart.
    Every emulator started is stopped at teardown.
    """
    started: list[RunningEmulator] = []

    def start(config: EmulatorConfig | None = None, db_path: Path | None = None) -> RunningEmulator:
        running = start_emulator(db_path or tmp_path / f"emulator-{len(started)}.sqlite", config)
        started.append(running)
        return running

    yield start
    if started:
        _stop_while_the_next_tests_run(started)


#: Emulators of finished tests, stopping. A uvicorn server takes ~0.2 s to stop (a 0.1 s
#: poll, then a fixed 0.1 s for connections to close): idle time the next test need not wait
#: for, as its emulator has a fresh port and database. Joined when the run ends.
_STOPPING: list[threading.Thread] = []


def _stop_while_the_next_tests_run(started: list[RunningEmulator]) -> None:
    def stop() -> None:
        for running in reversed(started):
            running.stop()

    _STOPPING[:] = [thread for thread in _STOPPING if thread.is_alive()]
    thread = threading.Thread(target=stop, name="stopping-emulators", daemon=True)
    thread.start()
    _STOPPING.append(thread)


@pytest.fixture
def emulator(emulator_factory: EmulatorFactory) -> RunningEmulator:
    """A default emulator on 127.0.0.1:<free port> with fresh state.

    `emulator.base_url` is CXONE_BASE_URL; `emulator.control` has token() and admin helpers.
    """
    return emulator_factory()


@pytest.fixture
def emulator_app_factory(tmp_path: Path) -> Iterator[EmulatorAppFactory]:
    """In-process emulators with a custom config (for httpx.ASGITransport)."""
    made: list[InProcessEmulator] = []

    def make(config: EmulatorConfig | None = None) -> InProcessEmulator:
        path = tmp_path / f"emulator-inprocess-{len(made)}.sqlite"
        config = (config or EmulatorConfig()).with_db(path)
        emulator = InProcessEmulator(create_app(config), config)
        made.append(emulator)
        return emulator

    yield make
    for emulator in made:
        emulator.close()


@pytest.fixture
def emulator_app(emulator_app_factory: EmulatorAppFactory) -> InProcessEmulator:
    """The default emulator in-process: `emulator_app.async_client()` or `.transport()`."""
    return emulator_app_factory()


#: The identity every test's project has unless the test gives it one (cxrecon.yaml
#: `project:`) or tests identity itself (`monkeypatch.delenv(PROJECT_ENV)`): commands that
#: write to CXone refuse without one, and the folders tests run in are not identities.
TEST_PROJECT = "cxrecon-tests"


@pytest.fixture(autouse=True)
def _cxrecon_logger_restored() -> Iterator[None]:
    """`cxrecon reconcile` run in-process (CliRunner) configures the `cxrecon` logger for a
    process: a handler on that run's stderr, INFO, no propagation. Left in place, a later
    test's caplog saw lines logged before its own `at_level` block (test_deleted failed in
    whole runs only, after tests/apply/test_identity.py)."""
    logger = logging.getLogger("cxrecon")
    saved = (logger.level, list(logger.handlers), logger.propagate)
    yield
    logger.setLevel(saved[0])
    logger.handlers[:] = saved[1]
    logger.propagate = saved[2]


@pytest.fixture(autouse=True)
def project_identity(monkeypatch: pytest.MonkeyPatch) -> str:
    """CXRECON_PROJECT for the test (commands run as processes inherit it); the connection
    and environment variables of whoever runs the tests are not the test's."""
    monkeypatch.setenv("CXRECON_PROJECT", TEST_PROJECT)
    monkeypatch.delenv("CXRECON_ENVIRONMENT", raising=False)
    return TEST_PROJECT
