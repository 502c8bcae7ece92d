"""A dump writes every credential CXone masks as a reference, also client ids and token
URLs. For a connector cxrecon already manages, its fingerprint was recorded from the old
files, where those values were literals: the plan must not read the new form as a rotation.
Values available to the run decide; without them the credentials are `unknown`."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from reconciler.errors import SecretResolutionError
from reconciler.load.references import is_secret_reference
from reconciler.plan.credentials import (
    CredentialChecker,
    CredentialReason,
    CredentialStatus,
)

SECRET = "CANARY-dump-credentials-secret"
BEFORE = {
    "tokenEndpoint": "https://login.acme.example/token",
    "clientId": "app-1",
    "clientSecret": "${env:SF_SECRET}",
}
#: What `cxrecon dump` writes for the same connector.
DUMPED = {
    "tokenEndpoint": "${env:SF_TOKEN_ENDPOINT}",
    "clientId": "${env:SF_CLIENT_ID}",
    "clientSecret": "${env:SF_CLIENT_SECRET}",
}
SAME_VALUES = {
    "SF_TOKEN_ENDPOINT": "https://login.acme.example/token",
    "SF_CLIENT_ID": "app-1",
    "SF_CLIENT_SECRET": SECRET,
}


def checker(environ: Mapping[str, str] | None) -> CredentialChecker:
    if environ is None:
        return CredentialChecker(lookup=None, log2_n=10)
    env = dict(environ)

    def lookup(value: str) -> str:
        if not is_secret_reference(value):
            return value
        name = value[len("${env:") : -1]
        if name not in env:
            raise SecretResolutionError(f"environment variable {name} is not set")
        return env[name]

    return CredentialChecker(lookup=lookup, log2_n=10)


def recorded() -> str:
    """The label an older cxrecon wrote when it applied the old files: four parts, without
    the digest of the references (a label with it reads any renamed reference as a
    rotation, see the last test)."""
    plain = {**BEFORE, "clientSecret": SECRET}
    return ".".join(checker({}).fingerprint("OAUTH2", BEFORE, plain).split(".")[:4])


@pytest.mark.parametrize(
    "environ",
    [None, {}, {"SF_CLIENT_SECRET": SECRET}, {"SF_CLIENT_ID": "app-1", "SF_CLIENT_SECRET": SECRET}],
)
def test_a_dumped_connector_without_its_values_is_unknown_not_rotated(
    environ: Mapping[str, str] | None,
) -> None:
    check = checker(environ).check("OAUTH2", DUMPED, recorded())
    assert check.status is CredentialStatus.UNKNOWN
    assert check.reason is CredentialReason.SECRETS_UNAVAILABLE
    assert not check.will_write


def test_with_the_values_set_the_fingerprint_decides() -> None:
    label = recorded()
    same = checker(SAME_VALUES).check("OAUTH2", DUMPED, label)
    assert (same.status, same.reason) == (CredentialStatus.UNCHANGED, CredentialReason.MATCH)
    other = checker({**SAME_VALUES, "SF_CLIENT_ID": "app-2"}).check("OAUTH2", DUMPED, label)
    assert other.status is CredentialStatus.ROTATED
    fewer = {k: v for k, v in DUMPED.items() if k != "tokenEndpoint"}
    assert checker(SAME_VALUES).check("OAUTH2", fewer, label).status is CredentialStatus.ROTATED


def test_prefetch_computes_what_check_needs_for_references_in_plain_fields() -> None:
    label = recorded()
    run = checker(SAME_VALUES)
    run.prefetch([("OAUTH2", DUMPED, label), ("OAUTH2", DUMPED, recorded())])
    assert len(run._kdf) == 2  # the cache prefetch fills
    assert run.check("OAUTH2", DUMPED, label).status is CredentialStatus.UNCHANGED


def test_a_changed_literal_is_still_a_rotation_without_secrets() -> None:
    changed = {**BEFORE, "clientId": "app-2"}
    check = checker(None).check("OAUTH2", changed, recorded())
    assert check.status is CredentialStatus.ROTATED


def test_an_unchanged_connector_stays_unknown_without_secrets() -> None:
    check = checker(None).check("OAUTH2", BEFORE, recorded())
    assert check.status is CredentialStatus.UNKNOWN


@pytest.mark.parametrize("environ", [None, SAME_VALUES])
def test_renamed_references_under_a_current_label_are_a_rotation(
    environ: Mapping[str, str] | None,
) -> None:
    """A label that records the references' digest: the dump's new variable names are a
    rotation the reviewer sees and the merge writes (it must provide those variables), also
    when they hold the same values."""
    plain = {**BEFORE, "clientSecret": SECRET}
    label = checker({}).fingerprint("OAUTH2", BEFORE, plain)
    check = checker(environ).check("OAUTH2", DUMPED, label)
    assert (check.status, check.reason) == (
        CredentialStatus.ROTATED,
        CredentialReason.REFERENCE_CHANGED,
    )
    assert check.will_write
