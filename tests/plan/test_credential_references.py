"""The fingerprint label's fifth part, a keyed digest of the secret references: a swap of
only the reference (`${env:SF_SECRET}` → `${env:SF_SECRET2}`) is "rotated" with or without
the secrets, and a four-part label from an older cxrecon keeps its old meaning."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from reconciler.plan import credentials as credentials_module
from reconciler.plan.credentials import (
    CredentialChecker,
    CredentialReason,
    CredentialStatus,
    ParsedFingerprint,
)

from .helpers import CANARY, ENV, checker

GIT = {"clientId": "app-1", "clientSecret": "${env:SF_SECRET}"}
SWAPPED = {**GIT, "clientSecret": "${env:SF_SECRET2}"}
BOTH = {**ENV, "SF_SECRET2": CANARY}  # the same value behind both names


def _label(credentials: Mapping[str, str] = GIT) -> str:
    return checker(BOTH).fingerprint("OAUTH2", credentials, {**credentials, "clientSecret": CANARY})


def _four_part(label: str) -> str:
    return ".".join(label.split(".")[:4])


def _verdict(run: CredentialChecker, credentials: Mapping[str, str], label: str) -> object:
    check = run.check("OAUTH2", credentials, label)
    return check.status, check.reason


@pytest.mark.parametrize("environ", [None, ENV, BOTH], ids=["no-secrets", "old-only", "both"])
def test_a_swapped_reference_is_rotated_with_or_without_the_secrets(
    environ: Mapping[str, str] | None,
) -> None:
    """Even when both names hold the same value: the write records the new reference, so
    a plan without secrets does not show the rotation again and again."""
    label = _label()
    assert _verdict(checker(environ), SWAPPED, label) == (
        CredentialStatus.ROTATED,
        CredentialReason.REFERENCE_CHANGED,
    )
    assert checker(environ).check("OAUTH2", SWAPPED, label).will_write


@pytest.mark.parametrize(
    "credentials",
    [
        {**GIT, "clientId": "${env:SF_SECRET}"},  # a literal became a reference
        {"clientId": "app-1", "clientSecret": "${env:SF_SECRET}", "extra": "${env:X}"},
        {"clientId": "app-1", "clientSecret": "${file:secrets/sf}"},  # env → file
    ],
)
def test_any_change_of_the_references_is_rotated(credentials: Mapping[str, str]) -> None:
    assert _verdict(checker(None), credentials, _label()) == (
        CredentialStatus.ROTATED,
        CredentialReason.REFERENCE_CHANGED,
    )


def test_the_same_references_keep_the_old_verdicts() -> None:
    label = _label()
    assert _verdict(checker(None), GIT, label) == (
        CredentialStatus.UNKNOWN,
        CredentialReason.SECRETS_UNAVAILABLE,
    )
    assert _verdict(checker(), GIT, label) == (CredentialStatus.UNCHANGED, CredentialReason.MATCH)
    rotated = checker({"SF_SECRET": "another-value"})
    assert _verdict(rotated, GIT, label) == (CredentialStatus.ROTATED, CredentialReason.DIFFERS)


def test_a_four_part_label_keeps_the_old_comparison() -> None:
    """No "rotated" for every connector after an upgrade: without the fifth part, a swap is
    judged by the values, as before."""
    old = _four_part(_label())
    assert ParsedFingerprint.parse(old) is not None
    assert _verdict(checker(None), GIT, old) == (
        CredentialStatus.UNKNOWN,
        CredentialReason.SECRETS_UNAVAILABLE,
    )
    assert _verdict(checker(BOTH), SWAPPED, old) == (
        CredentialStatus.UNCHANGED,
        CredentialReason.MATCH,
    )
    assert _verdict(checker({"SF_SECRET2": "new"}), SWAPPED, old) == (
        CredentialStatus.ROTATED,
        CredentialReason.DIFFERS,
    )


def test_the_label_is_short_salted_and_names_no_reference() -> None:
    labels = [_label(), _label()]
    for label in labels:
        parts = label.split(".")
        assert len(parts) == 5
        assert all(parts)
        assert len(label) <= 80  # the API takes label values up to 1,024 characters
        assert "SF_SECRET" not in label
        assert CANARY not in label
    assert labels[0].split(".")[4] != labels[1].split(".")[4]  # a fresh salt each write


@pytest.mark.parametrize(
    "label",
    [_four_part(_label()) + ".", _label() + ".", _label() + ".x"],
    # Named: each label has a fresh salt, and pytest-xdist workers must collect the same ids.
    ids=["empty-fifth-part", "empty-sixth-part", "sixth-part"],
)
def test_a_malformed_fifth_part_is_no_fingerprint(label: str) -> None:
    assert _verdict(checker(None), GIT, label) == (
        CredentialStatus.UNKNOWN,
        CredentialReason.NO_FINGERPRINT,
    )


def test_prefetch_skips_the_slow_digest_of_a_swapped_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    labels = [_label(), _label()]
    calls: list[object] = []
    real = credentials_module._full_digest

    def counted(*args: object) -> str:
        calls.append(args)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(credentials_module, "_full_digest", counted)
    run = checker(BOTH)
    run.prefetch(("OAUTH2", SWAPPED, label) for label in labels)
    assert calls == []
