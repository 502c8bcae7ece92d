"""A failed pull is reported by the line of git's output that says what went wrong."""

from __future__ import annotations

import asyncio
import shutil

from reconciler.controller.gitrepo import GitRepo

from .helpers import ConnectorsRepo, git


def test_an_unreachable_remote_is_reported_by_gits_error_not_its_closing_advice(
    repo: ConnectorsRepo,
) -> None:
    shutil.move(repo.origin, repo.origin.with_name("gone.git"))

    result = asyncio.run(GitRepo(repo.checkout).pull())

    assert not result.ok
    assert "does not appear to be a git repository" in result.message
    assert "and the repository exists" not in result.message


def test_a_branch_without_upstream_is_reported_as_such_not_by_gits_suggested_command(
    repo: ConnectorsRepo,
) -> None:
    git(repo.checkout, "checkout", "-q", "-b", "local-only")

    result = asyncio.run(GitRepo(repo.checkout).pull())

    assert not result.ok
    assert "There is no tracking information for the current branch" in result.message
    assert "--set-upstream-to" not in result.message


def test_a_force_pushed_branch_is_checked_out_and_reported_as_rewritten(
    repo: ConnectorsRepo,
) -> None:
    old = repo.commit({"connectors/beta.yaml": "name: Beta\n"}, "add Beta")
    assert asyncio.run(GitRepo(repo.checkout).pull()).commit == old
    git(repo.author, "commit", "-q", "--amend", "-m", "add Beta, reworded")
    git(repo.author, "push", "-q", "--force", "origin", "HEAD:main")
    new = git(repo.author, "rev-parse", "HEAD")

    result = asyncio.run(GitRepo(repo.checkout).pull())

    assert result.ok, result.message
    assert result.rewritten
    assert (result.previous, result.commit) == (old, new)
    assert result.changed
    assert "history" in result.message
    assert f"{old[:12]} → {new[:12]}" in result.message
    assert repo.head() == new


def test_a_fast_forward_is_not_a_rewrite(repo: ConnectorsRepo) -> None:
    old = repo.head()
    new = repo.commit({"connectors/beta.yaml": "name: Beta\n"}, "add Beta")

    result = asyncio.run(GitRepo(repo.checkout).pull())

    assert result.ok
    assert not result.rewritten
    assert result.discarded == ()
    assert (result.previous, result.commit) == (old, new)
    assert result.message == f"pulled {old[:12]}..{new[:12]}"


def test_local_modifications_of_its_own_checkout_are_discarded_and_named(
    repo: ConnectorsRepo,
) -> None:
    edited = repo.checkout / "connectors" / "alpha.yaml"
    original = edited.read_text()
    edited.write_text("name: edited by hand\n")
    untracked = repo.checkout / "notes.txt"
    untracked.write_text("left alone\n")

    result = asyncio.run(GitRepo(repo.checkout, owned=True).pull())

    assert result.ok, result.message
    assert result.discarded == ("connectors/alpha.yaml",)
    assert "connectors/alpha.yaml" in result.message
    assert edited.read_text() == original
    assert untracked.read_text() == "left alone\n"  # untracked files are not git's to delete


def test_a_detached_head_is_reported_not_followed(repo: ConnectorsRepo) -> None:
    git(repo.checkout, "checkout", "-q", "--detach")

    result = asyncio.run(GitRepo(repo.checkout).pull())

    assert not result.ok
    assert "on a branch" in result.message
