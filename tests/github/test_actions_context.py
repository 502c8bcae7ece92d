"""The runner-environment helpers: exit-code mapping, outputs, annotations, event payloads."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import GitHubContextError
from reconciler.github.actions import (
    ActionsContext,
    annotation,
    append_summary,
    read_pull_request,
    write_outputs,
)
from reconciler.github.outcome import ApplyOutcome, DriftOutcome, PlanOutcome

from .conftest import FIXTURES, parse_outputs


def context(tmp_path: Path, **extra: str) -> ActionsContext:
    environ = {
        "GITHUB_REPOSITORY": "acme/cx-connectors",
        "GITHUB_OUTPUT": str(tmp_path / "out"),
        **extra,
    }
    return ActionsContext.from_environ(environ)


@pytest.mark.parametrize(
    ("code", "outcome", "fails", "fails_when_approved"),
    [
        (0, PlanOutcome.NO_CHANGES, False, False),
        (2, PlanOutcome.CHANGES, False, False),
        (3, PlanOutcome.OVER_GATE, True, False),
        (1, PlanOutcome.ERROR, True, True),
        (4, PlanOutcome.ERROR, True, True),
        (130, PlanOutcome.ERROR, True, True),
    ],
)
def test_plan_exit_codes_map_to_a_status_and_a_check_result(
    code: int, outcome: PlanOutcome, fails: bool, fails_when_approved: bool
) -> None:
    assert PlanOutcome.from_exit_code(code) is outcome
    assert outcome.fails_job(over_gate_approved=False) is fails
    assert outcome.fails_job(over_gate_approved=True) is fails_when_approved


@pytest.mark.parametrize(
    ("code", "outcome"),
    [(0, DriftOutcome.IN_SYNC), (2, DriftOutcome.DRIFT), (1, DriftOutcome.ERROR),
     (3, DriftOutcome.ERROR)],
)  # fmt: skip
def test_drift_fails_the_job_only_when_the_check_itself_failed(
    code: int, outcome: DriftOutcome
) -> None:
    assert DriftOutcome.from_exit_code(code) is outcome
    assert outcome.fails_job is (outcome is DriftOutcome.ERROR)


def test_apply_succeeds_only_on_exit_zero() -> None:
    assert ApplyOutcome.from_exit_code(0) is ApplyOutcome.APPLIED
    assert ApplyOutcome.from_exit_code(2).fails_job


def test_multiline_outputs_use_a_delimiter_the_value_cannot_forge(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    tricky = "line one\nEOF\nstatus=forged"
    write_outputs(ctx, {"body": tricky, "outcome": "changes"})

    assert parse_outputs((tmp_path / "out").read_text(encoding="utf-8")) == {
        "body": tricky,
        "outcome": "changes",
    }


def test_outputs_and_summary_are_skipped_outside_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ctx = ActionsContext.from_environ({"GITHUB_REPOSITORY": "acme/x"})
    write_outputs(ctx, {"a": "b"})
    append_summary(ctx, "text")
    assert list(tmp_path.iterdir()) == []
    assert ctx.run_url is None


def test_annotations_escape_newlines_and_property_separators() -> None:
    line = annotation("error", "50% failed\nsee log", title="plan: sandbox, prod")
    assert line == "::error title=plan%3A sandbox%2C prod::50%25 failed%0Asee log"


def test_the_run_url_names_the_attempt_after_a_rerun(tmp_path: Path) -> None:
    ctx = context(tmp_path, GITHUB_RUN_ID="55", GITHUB_RUN_ATTEMPT="2")
    assert ctx.run_url == "https://github.com/acme/cx-connectors/actions/runs/55/attempts/2"


def test_a_pull_request_from_a_fork_is_recognised(tmp_path: Path) -> None:
    own = read_pull_request(
        context(tmp_path, GITHUB_EVENT_PATH=str(FIXTURES / "event_pull_request.json"))
    )
    fork = read_pull_request(
        context(tmp_path, GITHUB_EVENT_PATH=str(FIXTURES / "event_pull_request_fork.json"))
    )
    assert (own.number, own.from_fork) == (42, False)
    assert (fork.number, fork.from_fork, fork.head_repository) == (
        7,
        True,
        "outsider/cx-connectors",
    )


def test_an_unreadable_payload_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "event.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(GitHubContextError, match=r"event\.json: cannot read the event payload"):
        read_pull_request(context(tmp_path, GITHUB_EVENT_PATH=str(broken)))


@pytest.mark.parametrize("repository", ["", "acme", "acme/x/y", "acme/x;rm"])
def test_a_missing_or_malformed_repository_is_refused(repository: str) -> None:
    with pytest.raises(GitHubContextError, match="GITHUB_REPOSITORY is not set to OWNER/NAME"):
        ActionsContext.from_environ({"GITHUB_REPOSITORY": repository})
