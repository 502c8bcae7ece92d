"""A plan reads each connector's fingerprint label once: `prefetch` and `check` share the
parsed label and its public digest, and what they share never mixes up two connectors."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest

from reconciler.plan import credentials as credentials_module
from reconciler.plan.credentials import CredentialChecker, CredentialReason, CredentialStatus

from .helpers import CANARY, checker

GIT = {"clientId": "app-1", "clientSecret": "${env:SF_SECRET}"}


def _label(credentials: Mapping[str, str] = GIT, auth_type: str = "OAUTH2") -> str:
    plain = {**credentials, "clientSecret": CANARY}
    return checker().fingerprint(auth_type, credentials, plain)


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real: Callable[..., str] = credentials_module._public_digest

    def counted(*args: object) -> str:
        calls[0] += 1
        return real(*args)

    monkeypatch.setattr(credentials_module, "_public_digest", counted)
    return calls


def test_prefetch_and_check_digest_each_label_once(monkeypatch: pytest.MonkeyPatch) -> None:
    labels = [_label(), _label()]  # two connectors: the same credentials, their own salts
    calls = _counting(monkeypatch)
    run = checker()
    run.prefetch(("OAUTH2", GIT, label) for label in labels)
    checks = [run.check("OAUTH2", GIT, label) for label in labels]
    assert calls[0] == 2
    assert {(c.status, c.reason) for c in checks} == {
        (CredentialStatus.UNCHANGED, CredentialReason.MATCH)
    }


@pytest.mark.parametrize(
    ("auth_type", "credentials"),
    [
        ("OAUTH2", {**GIT, "clientId": "app-2"}),  # a literal changed
        ("OAUTH2", {**GIT, "tenant": "eu"}),  # a key added
        ("BASIC", GIT),  # another auth type
    ],
)
def test_what_one_check_learnt_is_not_reused_for_other_credentials(
    auth_type: str, credentials: Mapping[str, str]
) -> None:
    label = _label()
    for run in (checker(), checker(environ=None)):
        assert run.check("OAUTH2", GIT, label).status is not CredentialStatus.ROTATED
        other = run.check(auth_type, credentials, label)
        assert (other.status, other.reason) == (
            CredentialStatus.ROTATED,
            CredentialReason.DIFFERS,
        )


@pytest.mark.parametrize("label", [None, "", "s13.not-a-fingerprint", "garbage"])
def test_a_missing_or_unreadable_label_is_no_fingerprint(label: str | None) -> None:
    run = CredentialChecker(lookup=None, log2_n=10)
    run.prefetch([("OAUTH2", GIT, label)])
    check = run.check("OAUTH2", GIT, label)
    assert (check.status, check.reason) == (
        CredentialStatus.UNKNOWN,
        CredentialReason.NO_FINGERPRINT,
    )
