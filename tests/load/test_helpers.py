"""Helper processes share a large load: the result is exactly that of checking every file in
this process, a helper that cannot start or dies loses nothing, none outlives the load, and
a helper does not import code from the folder under review."""

from __future__ import annotations

import os
import shutil
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.load import helpers
from reconciler.load.desired import LoadResult, read_desired
from reconciler.load.helpers import CHUNK_BYTES, MIN_BYTES, SETTING, helper_count

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """Every good and bad fixture ten times over (names repeat: duplicate-name errors
    too), in more than two chunks."""
    folder = tmp_path / "connectors"
    folder.mkdir()
    for round_ in range(10):
        for kind in ("good", "bad"):
            for source in sorted((FIXTURES / kind).glob("*.yaml")):
                shutil.copyfile(source, folder / f"{round_}-{kind}-{source.name}")
    total = sum(p.stat().st_size for p in folder.iterdir())
    assert total > 2 * CHUNK_BYTES
    return folder


def load(folder: Path, monkeypatch: pytest.MonkeyPatch, setting: str) -> LoadResult:
    monkeypatch.setenv(SETTING, setting)
    return read_desired(folder)


def same(a: LoadResult, b: LoadResult) -> None:
    assert a.digest == b.digest
    assert a.diagnostics == b.diagnostics
    assert a.connectors == b.connectors
    assert a.files == b.files
    assert (a.parsed, a.reused) == (b.parsed, b.reused)


def test_helpers_load_exactly_what_this_process_loads(
    repository: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = load(repository, monkeypatch, "0")
    shared = load(repository, monkeypatch, "2")
    assert alone.helpers == 0
    assert shared.helpers == 2
    assert alone.errors  # the bad fixtures' diagnostics, in the same order both ways
    assert len(alone.connectors) > 0
    same(alone, shared)


def test_equal_mappings_from_a_helper_are_the_shared_objects(
    repository: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = load(repository, monkeypatch, "2")
    mappings = [m for c in shared.connectors for m in c.spec.mappings]
    by_value: dict[object, object] = {}
    for mapping in mappings:
        assert by_value.setdefault(mapping, mapping) is mapping


def test_a_project_with_environments_and_overrides_loads_the_same_with_helpers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The context a helper gets holds the environments (read-only mappings of vars and
    # connection settings, overrides): they must travel, or the load ended in a TypeError.
    import yaml

    from reconciler.config.project import load_project

    root = Path(__file__).resolve().parents[2]
    config = yaml.safe_load((root / "cxrecon.yaml").read_text(encoding="utf-8"))
    production = config["environments"]["production"]
    production["overrides"] = {"Salesforce*": {"description": "overridden in production"}}
    (tmp_path / "cxrecon.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    folder = tmp_path / "connectors"
    folder.mkdir()
    for round_ in range(40):
        for source in sorted((root / "connectors").glob("*.yaml")):
            shutil.copyfile(source, folder / f"{round_:02d}-{source.name}")
    project = load_project(tmp_path)
    assert project.environments["production"].overrides
    everywhere = tuple(project.environments.values())

    def load_all(setting: str) -> LoadResult:
        monkeypatch.setenv(SETTING, setting)
        env = project.environment("production")
        return read_desired(folder, env, check_environments=everywhere, project=project)

    alone, shared = load_all("0"), load_all("1")
    assert shared.helpers == 1
    assert alone.environments == shared.environments
    assert set(shared.environments) == set(project.environments)
    same(alone, shared)


@pytest.mark.timeout(60)
def test_small_answers_arriving_together_are_all_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This process takes the slow files at the front; the helper, fed from the back, gets
    # files that fail at their first line: tiny answers, several of which can arrive while
    # this process is busy and be read at once. Every one is taken (a reader that buffered
    # the next answer where select cannot see it waited here for the stall timeout; that
    # race is not reproduced reliably, the timeout marks it if it comes back).
    monkeypatch.setattr(helpers, "STALL_SECONDS", 600.0)
    folder = tmp_path / "connectors"
    folder.mkdir()
    for i in range(16):
        (folder / f"a-big-{i:02d}.yaml").write_text(_big_connector(i, 400), encoding="utf-8")
    padding = "# " + "x" * 30_000 + "\n"
    for i in range(60):
        (folder / f"z-broken-{i:02d}.yaml").write_text("name: [unclosed\n" + padding)
    alone = load(folder, monkeypatch, "0")
    shared = load(folder, monkeypatch, "1")
    assert shared.helpers == 1
    assert len(alone.errors) == 60
    same(alone, shared)


def test_answers_from_other_code_are_refused(
    repository: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A "helper" that speaks the protocol but is not this code (another installed version):
    # its answers are not used; this process checks everything.
    expected = load(repository, monkeypatch, "0")
    impostor = tmp_path / "impostor.py"
    impostor.write_text(
        "import pickle, struct, sys\n"
        "inp, out = sys.stdin.buffer, sys.stdout.buffer\n"
        "def read():\n"
        "    head = inp.read(8)\n"
        "    if len(head) < 8: sys.exit(0)\n"
        "    return inp.read(struct.unpack('>Q', head)[0])\n"
        "read()\n"
        "while True:\n"
        "    read()\n"
        "    data = pickle.dumps(('0.0.0 elsewhere', []))\n"
        "    out.write(struct.pack('>Q', len(data)) + data)\n"
        "    out.flush()\n",
        encoding="utf-8",
    )
    fake = tmp_path / "impostor-python"
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} {impostor}\n", encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(sys, "executable", str(fake))
    got = load(repository, monkeypatch, "2")
    same(expected, got)
    assert got.helpers == 0


@pytest.mark.timeout(120)
def test_chunks_and_answers_larger_than_a_pipe_do_not_deadlock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two 40 KiB files per chunk: each chunk and each answer is more than a pipe holds, so
    # this process writes the next chunk while the helper writes an answer.
    folder = tmp_path / "connectors"
    folder.mkdir()
    for i in range(24):
        (folder / f"big-{i:02d}.yaml").write_text(_big_connector(i, 400), encoding="utf-8")
    assert all(p.stat().st_size > 32 * 1024 for p in folder.iterdir())
    alone = load(folder, monkeypatch, "0")
    shared = load(folder, monkeypatch, "1")
    assert shared.helpers == 1
    assert len(alone.connectors) == 24
    same(alone, shared)


def _big_connector(index: int, mappings: int) -> str:
    lines = [
        f"name: Big-{index:02d}",
        "connectorType: CUSTOM",
        "lifecycleStatus: DRAFT",
        f"endpointUrl: https://crm{index}.example.com/api",
        "authentication:",
        "  type: API_KEY",
        "  credentials:",
        "    apiKey: ${env:BIG_API_KEY}",
        "    headerName: X-Api-Key",
        "mappings:",
        "  - cxoneField: contact.external_id",
        "    crmField: id",
        "    direction: INBOUND",
    ]
    for m in range(mappings):
        lines += [
            f"  - cxoneField: contact.custom.field_{m:03d}",
            f"    crmField: custom_field_{m:03d}",
            "    direction: INBOUND",
        ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "helper", ["exits at once", "dies after reading a little", "answers with text"]
)
def test_a_helper_that_fails_loses_nothing(
    repository: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, helper: str
) -> None:
    expected = load(repository, monkeypatch, "0")
    fake = tmp_path / "fake-python"
    body = {
        "exits at once": "exit 3",
        "dies after reading a little": "head -c 4096 >/dev/null; exit 3",
        # Not a helper: a wrapper's banner where the answers should be, then silence.
        "answers with text": "echo 'Python 3.11.7 (main) ready for anything'; cat >/dev/null",
    }[helper]
    fake.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(sys, "executable", str(fake))
    got = load(repository, monkeypatch, "2")
    same(expected, got)
    assert got.helpers == 0  # none took part: this process checked every file


def test_a_helper_that_never_answers_is_given_up_on(
    repository: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    expected = load(repository, monkeypatch, "0")
    fake = tmp_path / "stuck-python"
    # Reads everything it is sent, answers nothing, exits when its stdin closes.
    reads = "import sys; sys.stdin.buffer.read()"
    script = f'#!/bin/sh\nexec {sys.executable} -c "{reads}" stuck-helper\n'
    fake.write_text(script, encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(sys, "executable", str(fake))
    monkeypatch.setattr(helpers, "STALL_SECONDS", 0.5)
    got = load(repository, monkeypatch, "2")
    same(expected, got)
    assert got.helpers == 0
    assert _children("stuck-helper") == []


def test_a_helper_that_cannot_be_started_loses_nothing(
    repository: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    expected = load(repository, monkeypatch, "0")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    got = load(repository, monkeypatch, "2")
    same(expected, got)
    assert got.helpers == 0


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_no_helper_outlives_the_load(repository: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load(repository, monkeypatch, "2").helpers == 2
    assert _children() == []


def test_a_helper_imports_nothing_from_the_folder_under_review(
    repository: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A pull request could add yaml.py (or reconciler/) next to its connector files; the
    # helper runs in that working directory, but with -P it is not on the import path.
    marker = tmp_path / "imported"
    planted = f"open({str(marker)!r}, 'w').close()\nraise SystemExit(9)\n"
    (repository / "yaml.py").write_text(planted, encoding="utf-8")
    (repository / "reconciler").mkdir()
    (repository / "reconciler" / "__init__.py").write_text(planted, encoding="utf-8")
    monkeypatch.chdir(repository)
    result = load(repository, monkeypatch, "2")
    assert result.helpers == 2
    assert not marker.exists()


def test_how_many_helpers() -> None:
    env = dict(os.environ)
    try:
        os.environ.pop(SETTING, None)
        assert helper_count(MIN_BYTES - 1, 100) == 0  # small: not worth starting one
        assert helper_count(100 * MIN_BYTES, 1) == 0  # one chunk: nothing to share
        big = helper_count(100 * MIN_BYTES, 1000)
        cores = helpers._cores()  # affinity and any container quota (tested below)
        assert big == min(cores - 1, helpers.MAX_HELPERS)
        assert helper_count(2 * MIN_BYTES, 1000) == min(cores - 1, 2)
        os.environ[SETTING] = "0"
        assert helper_count(100 * MIN_BYTES, 1000) == 0
        os.environ[SETTING] = "3"
        assert helper_count(10, 2) == 1  # at most one per chunk beyond this process's
        assert helper_count(10, 100) == 3
        os.environ[SETTING] = "lots"  # unreadable: as auto
        assert helper_count(MIN_BYTES - 1, 100) == 0
    finally:
        os.environ.clear()
        os.environ.update(env)


def _children(marker: str = "reconciler.load.helper") -> list[str]:
    """Command lines of this process's live children with `marker` in them."""
    mine = os.getpid()
    return [c for _, parent, c, _ in _processes() if parent == mine and marker in c]


def test_what_helpers_checked_is_kept_for_the_next_cycle(
    repository: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The controller's first cycle of a large repository is shared with helpers; its next
    # cycle on an unchanged commit parses nothing.
    from reconciler.config.project import load_project
    from reconciler.load.incremental import KeptFiles

    monkeypatch.setenv(SETTING, "2")
    project = load_project(repository.parent)
    kept = KeptFiles()
    first = kept.load(project, None, commit="c1", changed=None)
    assert first.helpers == 2
    again = kept.load(project, None, commit="c1", changed=())
    assert (again.parsed, again.helpers) == (0, 0)
    assert again.reused == first.parsed
    same_state = (again.digest, again.diagnostics, again.connectors)
    assert same_state == (first.digest, first.diagnostics, first.connectors)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "200000 100000\n"}, 2),
        ({"cpu.max": "150000 100000\n"}, 1),
        ({"cpu.max": "50000 100000\n"}, 1),
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "400000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 4),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu.max": "garbage"}, None),
        ({}, None),
    ],
)
def test_a_containers_cpu_quota_counts(
    tmp_path: Path, files: dict[str, str], expected: int | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="ascii")
    assert helpers.quota_cpus(tmp_path) == expected


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc")
@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_helpers_end_with_the_process_that_started_them(tmp_path: Path, how: str) -> None:
    # Ctrl-C stops the load (exit 130, no traceback from anyone); a terminated or killed
    # process leaves no helper behind either: each exits when its stdin closes.
    import signal
    import subprocess
    import time
    import uuid

    folder = tmp_path / "connectors"
    folder.mkdir()
    for i in range(600):
        (folder / f"big-{i:03d}.yaml").write_text(_big_connector(i, 100), encoding="utf-8")
    mark = uuid.uuid4().hex
    env = {**os.environ, SETTING: "1", "CXRECON_NO_CACHE": "1", "CXRECON_TEST_MARK": mark}
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "validate", str(folder)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # Whoever started pytest may have left Ctrl-C ignored (a background job): not here.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    deadline = time.monotonic() + 60
    while not _marked(mark) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _marked(mark), "no helper started"
    if how == "SIGINT":
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole group, helpers too
    else:
        process.send_signal(getattr(signal, how))  # only the process (an OOM kill, a stop)
    _, err = process.communicate(timeout=60)
    if how == "SIGINT":
        assert process.returncode == 130
        assert "Traceback" not in err.decode()
    while _marked(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _marked(mark) == []


def _marked(mark: str) -> list[int]:
    """Live load helpers (any parent) whose environment carries `mark`."""
    return [
        pid
        for pid, _, command, environ in _processes()
        if "reconciler.load.helper" in command and mark.encode() in environ
    ]


def _processes() -> Iterator[tuple[int, int, str, bytes]]:
    """(pid, parent pid, command line, environment) of each live process /proc lets us read."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if state != "Z":
            yield int(entry.name), int(parent), command.decode(errors="replace"), environ
