"""How a reviewed plan compares credentials (reconciler.plan.reviewed): a value that is not
secret by value, a reference by its name, a literal secret by its salted fingerprint — and
never holds or says a secret value. (The merge flow end to end: tests/apply.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler.model import Authentication, ConnectorSpec
from reconciler.plan.changes import SafetyVerdict
from reconciler.plan.credentials import literal_fingerprint, literal_matches
from reconciler.plan.document import change_document
from reconciler.plan.reviewed import credentials_note, review
from reconciler.plan.saved import SavedPlan

from .helpers import applied, make_plan, spec

LITERAL = "CANARY-literal-secret-5b0e"
OTHER = "CANARY-other-literal-91ac"


def with_credentials(**credentials: str) -> ConnectorSpec:
    base = {"tokenEndpoint": "https://login.acme.example/token", "clientId": "app-1"}
    auth = Authentication(type="OAUTH2", credentials={**base, **credentials})
    return spec(authentication=auth, description="reviewed change")


def reviewed_plan(shown: dict[str, Any], safety: SafetyVerdict) -> SavedPlan:
    """A reviewed plan of change documents alone (no copy of git's connectors)."""
    return SavedPlan(
        path=Path("reviewed.json"),
        desired_digest="",
        binding=None,
        target=None,
        environment=None,
        prune=False,
        safety=safety,
        summary_text="",
        created_at="",
        entries=(),
        shown=shown,
    )


def reviewed_against(shown: ConnectorSpec, now: ConnectorSpec) -> tuple[bool, str]:
    """(as reviewed?, the reason it is held) for `now` after a review of `shown`."""
    remote = [applied(spec())]
    document = change_document(make_plan([shown], remote, environ=None).changes[0])
    text = json.dumps(document)
    assert LITERAL not in text
    assert OTHER not in text
    fresh = make_plan([now], remote, environ=None)
    verdict = review(reviewed_plan({"sf-contacts": document}, fresh.safety), fresh)
    reasons = " ".join(h.reason for h in verdict.held)
    assert LITERAL not in reasons
    assert OTHER not in reasons
    return verdict.complete, reasons


def test_a_literal_secret_is_compared_by_its_salted_fingerprint() -> None:
    assert reviewed_against(
        with_credentials(clientSecret=LITERAL), with_credentials(clientSecret=LITERAL)
    ) == (True, "")
    complete, reason = reviewed_against(
        with_credentials(clientSecret=LITERAL), with_credentials(clientSecret=OTHER)
    )
    assert not complete
    assert "credentials differ: clientSecret (a literal secret) changed" in reason


def test_a_fingerprint_is_salted_and_checked_with_its_own_salt() -> None:
    first, second = literal_fingerprint(LITERAL), literal_fingerprint(LITERAL)
    assert first != second
    assert LITERAL not in first
    assert literal_matches(first, LITERAL)
    assert literal_matches(second, LITERAL)
    assert not literal_matches(first, OTHER)
    assert not literal_matches("l13.not-a-salt.x", LITERAL)
    assert not literal_matches(None, LITERAL)


def test_references_are_compared_by_name_and_plain_values_by_value() -> None:
    a, b = "${env:SF_SECRET}", "${env:SF_SECRET_B}"
    complete, reason = reviewed_against(
        with_credentials(clientSecret=a), with_credentials(clientSecret=b)
    )
    assert not complete
    assert "clientSecret ${env:SF_SECRET} → ${env:SF_SECRET_B}" in reason
    complete, reason = reviewed_against(
        with_credentials(clientSecret=a, scope="api"), with_credentials(clientSecret=a)
    )
    assert not complete
    assert "credentials differ: scope removed" in reason
    complete, reason = reviewed_against(
        with_credentials(clientSecret=a, clientId="${env:SF_ID}"),
        with_credentials(clientSecret=a, clientId="app-9"),
    )
    assert not complete
    assert "clientId ${env:SF_ID} → a value in git" in reason


def test_a_change_that_writes_credentials_says_so_and_from_where() -> None:
    change = make_plan([with_credentials(clientSecret="${env:SF_SECRET}")], [applied(spec())])
    note = credentials_note(change.changes[0])
    assert note.startswith("; credentials rotated, written from ")
    assert "clientSecret ${env:SF_SECRET}" in note
    assert "tokenEndpoint (value in git)" in note
