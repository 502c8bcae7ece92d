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
