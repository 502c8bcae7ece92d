"""The controller never loses a working tree's edits (issue 22, break 9): `--dry-run` changes no
file, index entry or ref of someone's clone; without it, uncommitted changes or local commits
refuse the cycle in one line; only the controller's own checkout (in its state directory) is
reset to the branch."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli.main import cli
from reconciler.controller.gitrepo import GitRepo, own_checkout
from reconciler.controller.report import CycleResult
from reconciler.errors import ConfigError
from reconciler.testing import RunningEmulator

from .helpers import (
    CANARY,
    ENVIRON,
    ConnectorsRepo,
    ControllerFactory,
    connector_yaml,
    git,
    remote_connectors,
)

pytestmark = pytest.mark.anyio


def snapshot(checkout: Path) -> dict[str, str]:
    """Everything a user could lose: every file's bytes (.git's index and refs included, not
    its object store or FETCH_HEAD), HEAD, the refs and the status."""
    files = {
        str(p.relative_to(checkout)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(checkout.rglob("*"))
        if p.is_file()
        and p.relative_to(checkout).parts[:2] != (".git", "objects")
        and p.name not in ("FETCH_HEAD", "ORIG_HEAD")
        and ".cxrecon" not in p.relative_to(checkout).parts
    }
    files["HEAD"] = git(checkout, "rev-parse", "HEAD")
    files["refs"] = git(checkout, "for-each-ref")
    status = git(checkout, "status", "--porcelain", "--untracked-files=all").splitlines()
    files["status"] = "\n".join(line for line in status if ".cxrecon/" not in line)
    return files


def work(checkout: Path) -> dict[str, str]:
    """The user's work only: files outside .git, the index, HEAD, branches, the status (a
    fetch may move remote-tracking refs: that loses nothing)."""
    everything = snapshot(checkout)
    kept = {k: v for k, v in everything.items() if not k.startswith(".git/")}
    kept[".git/index"] = everything[".git/index"]
    kept["refs"] = git(checkout, "for-each-ref", "refs/heads", "refs/tags")
    return kept


def edit_everything(repo: ConnectorsRepo) -> None:
    """A user's work in progress: a local commit, an edit, a staged file, an untracked one."""
    alpha = repo.checkout / "connectors" / "alpha.yaml"
    alpha.write_text(connector_yaml("Alpha", description="committed locally"))
    git(repo.checkout, "commit", "-q", "-am", "work in progress")
    alpha.write_text(connector_yaml("Alpha", description="edited, not committed"))
    (repo.checkout / "connectors" / "staged.yaml").write_text(connector_yaml("Staged"))
    git(repo.checkout, "add", "connectors/staged.yaml")
    (repo.checkout / "connectors" / "draft.yaml").write_text(connector_yaml("Draft"))


async def test_a_dry_run_changes_nothing_in_someones_clone_and_plans_it_as_it_is(
    make_controller: ControllerFactory, repo: ConnectorsRepo, emulator: RunningEmulator
) -> None:
    edit_everything(repo)
    published = repo.commit({"connectors/beta.yaml": connector_yaml("Beta")}, "add Beta")
    before = snapshot(repo.checkout)
    controller = make_controller(dry_run=True, environ=ENVIRON)  # no state directory

    report = await controller.cycle()
    again = await controller.cycle()

    assert snapshot(repo.checkout) == before
    assert report.pull is not None
    assert report.pull.ok, report.pull.message
    assert report.commit == before["HEAD"]
    assert report.pull.discarded == ()
    message = report.pull.message
    assert message.startswith("dry run: planned the checkout as it is")
    assert "connectors/alpha.yaml" in message
    assert "1 local commit" in message
    assert f"origin/main is at {published[:12]}, not checked out" in message
    assert "discarded" not in message
    # What the working tree holds is what was planned (and nothing written to CXone).
    assert {c.name for c in report.connectors} == {"Alpha", "Staged", "Draft"}
    assert remote_connectors(emulator) == {}
    assert again.pull is not None
    assert again.pull.message == message


def test_reconcile_dry_run_once_on_a_clone_with_an_edit_keeps_it(
    repo: ConnectorsRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's reproduction: `cxrecon reconcile --repo . --once --dry-run`."""
    alpha = repo.checkout / "connectors" / "alpha.yaml"
    alpha.write_text(connector_yaml("Alpha", description="my edit"))
    repo.commit({"connectors/beta.yaml": connector_yaml("Beta")}, "add Beta")
    before = snapshot(repo.checkout)
    monkeypatch.chdir(repo.checkout)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)

    result = CliRunner().invoke(
        cli,
        ["reconcile", "--repo", ".", "--once", "--dry-run", "--emulator", "--listen", "off"],
        env={"CRM_API_KEY": CANARY, "CXRECON_AUDIT_LOG": str(tmp_path / "audit.jsonl")},
    )

    assert result.exit_code == 2, result.output  # changes planned, none written
    assert snapshot(repo.checkout) == before
    assert "my edit" in alpha.read_text()
    assert "discarded" not in result.output


async def test_uncommitted_changes_refuse_the_cycle_in_one_line_and_nothing_is_written(
    make_controller: ControllerFactory, repo: ConnectorsRepo, emulator: RunningEmulator
) -> None:
    controller = make_controller(environ=ENVIRON)
    assert (await controller.cycle()).result is CycleResult.SUCCESS
    alpha = repo.checkout / "connectors" / "alpha.yaml"
    alpha.write_text(connector_yaml("Alpha", description="edited, not reviewed"))
    repo.commit({"connectors/beta.yaml": connector_yaml("Beta")}, "add Beta")
    before = work(repo.checkout)

    report = await controller.cycle()

    assert report.result is CycleResult.FAILED
    assert report.error is not None
    assert "\n" not in report.error
    assert "has uncommitted changes (connectors/alpha.yaml)" in report.error
    assert "clean clone" in report.error
    assert work(repo.checkout) == before
    remote = remote_connectors(emulator)
    assert set(remote) == {"Alpha"}  # Beta not created, the edit not applied
    assert remote["Alpha"]["description"] == "managed by git"
    assert controller.readiness()[0] is False


@pytest.mark.parametrize(
    "kind",
    ["staged", "untracked connector", "cxrecon.yaml edit", "local commit"],
)
def test_staged_untracked_and_committed_work_is_never_reset(
    repo: ConnectorsRepo, kind: str
) -> None:
    checkout = repo.checkout
    if kind == "staged":
        (checkout / "connectors" / "alpha.yaml").write_text(connector_yaml("Alpha", status="DRAFT"))
        git(checkout, "add", "-A")
        named = "connectors/alpha.yaml"
    elif kind == "untracked connector":
        (checkout / "connectors" / "team").mkdir()
        (checkout / "connectors" / "team" / "new.yaml").write_text(connector_yaml("New"))
        named = "connectors/team/new.yaml"
    elif kind == "cxrecon.yaml edit":
        (checkout / "cxrecon.yaml").write_text("connectors: connectors/\nproject: mine\n")
        named = "cxrecon.yaml"
    else:
        (checkout / "connectors" / "alpha.yaml").write_text(connector_yaml("Alpha", status="DRAFT"))
        git(checkout, "commit", "-q", "-am", "mine")
        named = "1 local commit not on origin/main"
    repo.commit({"connectors/beta.yaml": connector_yaml("Beta")}, "add Beta")
    before = work(checkout)

    with pytest.raises(ConfigError) as refused:
        asyncio.run(GitRepo(checkout).pull())

    assert named in str(refused.value)
    assert "git clone --branch BRANCH URL DIR" in str(refused.value)
    assert work(checkout) == before


def test_a_clean_clone_follows_the_branch_and_untracked_files_elsewhere_are_kept(
    repo: ConnectorsRepo,
) -> None:
    notes = repo.checkout / "notes.txt"
    notes.write_text("mine\n")
    # Untracked files no cycle reads: not work a reset could lose, nor unreviewed input.
    (repo.checkout / "connectors" / "README.md").write_text("how we name connectors\n")
    (repo.checkout / "connectors" / ".cxrecon").mkdir()
    (repo.checkout / "connectors" / ".cxrecon" / "audit.jsonl").write_text("{}\n")
    published = repo.commit({"connectors/beta.yaml": connector_yaml("Beta")}, "add Beta")

    result = asyncio.run(GitRepo(repo.checkout).pull())

    assert result.ok, result.message
    assert result.commit == published == repo.head()
    assert notes.read_text() == "mine\n"


async def test_its_own_checkout_follows_the_branch_in_a_dry_run_only_when_nothing_is_lost(
    make_controller: ControllerFactory, repo: ConnectorsRepo, tmp_path: Path
) -> None:
    controller = make_controller(dry_run=True)  # conftest: the checkout is its own
    first = repo.commit({"connectors/beta.yaml": connector_yaml("Beta")}, "add Beta")
    followed = await controller.cycle()
    alpha = repo.checkout / "connectors" / "alpha.yaml"
    alpha.write_text(connector_yaml("Alpha", description="an edit in its own checkout"))
    repo.commit({"connectors/gamma.yaml": connector_yaml("Gamma")}, "add Gamma")

    kept = await controller.cycle()

    assert followed.commit == first
    assert kept.commit == first == repo.head()
    assert kept.pull is not None
    assert "an edit in its own checkout" in alpha.read_text()
    assert "uncommitted changes (connectors/alpha.yaml)" in kept.pull.message


def test_its_own_checkout_is_inside_the_state_directory(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "repo").mkdir(parents=True)
    (tmp_path / "link").symlink_to(state / "repo")
    environ = {"STATE_DIRECTORY": f"{tmp_path / 'other'}:{state}"}

    assert own_checkout(state / "repo", environ)
    assert own_checkout(tmp_path / "link", environ)  # a git-sync style link into it
    assert not own_checkout(tmp_path, environ)
    assert not own_checkout(state / "repo", {})
