"""A rewritten branch (force-push) is followed, as Flux and Argo CD do: the controller fetches
the branch and checks out what it points to now, logging the rewrite (issue 12 item 2). The
checkout in the controller's state directory is its own: local edits and commits in it are
discarded (someone else's clone is never reset over work: test_worktree_safety)."""

from __future__ import annotations

import logging

import pytest

from reconciler.controller.report import CycleResult
from reconciler.testing import RunningEmulator

from .helpers import ConnectorsRepo, ControllerFactory, connector_yaml, git, remote_connectors

pytestmark = pytest.mark.anyio


def _push_forced(repo: ConnectorsRepo) -> str:
    git(repo.author, "push", "-q", "--force", "origin", "HEAD:main")
    return git(repo.author, "rev-parse", "HEAD")


def commit_forced(repo: ConnectorsRepo, files: dict[str, str], message: str) -> str:
    for rel, text in files.items():
        (repo.author / rel).write_text(text)
    git(repo.author, "add", "-A")
    git(repo.author, "commit", "-q", "-m", message)
    return _push_forced(repo)


async def test_a_force_pushed_branch_is_checked_out_and_the_rewrite_is_logged(
    make_controller: ControllerFactory,
    repo: ConnectorsRepo,
    emulator: RunningEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    controller = make_controller()
    repo.commit({"connectors/beta.yaml": connector_yaml("Beta")}, "add Beta")
    before = await controller.cycle()
    old = repo.head()
    assert before.commit == old
    git(repo.author, "reset", "-q", "--hard", "HEAD~1")
    new = commit_forced(
        repo, {"connectors/gamma.yaml": connector_yaml("Gamma")}, "add Gamma instead"
    )

    with caplog.at_level(logging.INFO, logger="cxrecon"):
        report = await controller.cycle()

    assert report.pull is not None
    assert report.pull.ok, report.pull.message
    assert report.pull.rewritten
    assert (report.pull.previous, report.pull.commit) == (old, new)
    assert report.commit == new == repo.head()
    assert report.result is CycleResult.SUCCESS
    assert "Gamma" in remote_connectors(emulator)
    assert {c.name for c in report.connectors} >= {"Alpha", "Gamma"}
    logged = caplog.text
    assert "Not possible to fast-forward" not in logged
    assert "last good commit" not in logged
    assert "rewritten" in logged
    assert old[:12] in logged
    assert new[:12] in logged
    assert controller.readiness()[0] is True

    again = await controller.cycle()

    assert again.pull is not None
    assert again.pull.ok
    assert not again.pull.rewritten
    assert again.commit == new


async def test_a_branch_rewound_to_an_older_commit_is_followed(
    make_controller: ControllerFactory, repo: ConnectorsRepo
) -> None:
    controller = make_controller(dry_run=True)
    first = repo.head()
    repo.commit({"connectors/beta.yaml": connector_yaml("Beta")}, "add Beta")
    await controller.cycle()
    git(repo.author, "reset", "-q", "--hard", first)
    _push_forced(repo)

    report = await controller.cycle()

    assert report.pull is not None
    assert report.pull.ok
    assert report.pull.rewritten
    assert report.commit == first == repo.head()
    assert [c.name for c in report.connectors] == ["Alpha"]


async def test_local_edits_and_commits_in_its_own_checkout_are_discarded(
    make_controller: ControllerFactory,
    repo: ConnectorsRepo,
    caplog: pytest.LogCaptureFixture,
) -> None:
    controller = make_controller()  # the checkout is in its state directory (conftest)
    await controller.cycle()
    alpha = repo.checkout / "connectors" / "alpha.yaml"
    alpha.write_text(connector_yaml("Alpha", description="edited by hand"))
    (repo.checkout / "cxrecon.yaml").write_text("connectors: elsewhere/\n")
    git(repo.checkout, "commit", "-q", "-am", "a local commit")
    alpha.write_text(connector_yaml("Alpha", description="edited by hand again"))
    published = repo.commit({"connectors/beta.yaml": connector_yaml("Beta")}, "add Beta")

    with caplog.at_level(logging.INFO, logger="cxrecon"):
        report = await controller.cycle()

    assert report.pull is not None
    assert report.pull.ok, report.pull.message
    assert report.commit == published == repo.head()
    assert alpha.read_text() == connector_yaml("Alpha")
    assert git(repo.checkout, "status", "--porcelain", "--untracked-files=no") == ""
    assert "connectors/alpha.yaml" in report.pull.discarded
    assert not report.pull.rewritten  # only the checkout's own commit was dropped
    assert "discarded 1 local commit" in report.pull.message
    assert "connectors/alpha.yaml" in caplog.text
    assert report.result is CycleResult.SUCCESS
    assert {c.name for c in report.connectors} == {"Alpha", "Beta"}
