"""Secret references resolve only when asked, name what is missing and never show a value."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config.project import EnvironmentConfig
from reconciler.errors import SecretResolutionError
from reconciler.load.desired import LoadResult, read_desired
from reconciler.load.references import check_secret_field, substitute_vars
from reconciler.load.secret_lookup import SecretLookup, resolve_secret
from reconciler.secret import Secret, is_secret_field, looks_secret

from .inputs import CANARY, connector_yaml


@pytest.mark.parametrize(
    "key",
    [
        "clientSecret",
        "password",
        "apiKey",
        "api_key",
        "TOKEN",
        "accessToken",
        "refresh-token",
        "privateKey",
        "secret",
        "salesforcePassword",
        "idToken",
        "webhookSecret",
    ],
)
def test_secret_looking_names_are_recognized_in_any_case(key: str) -> None:
    # The name-based guess that guards cxrecon.yaml, labels and URL queries; what is masked
    # is the schema's writeOnly set (tests/security/test_secret_definition.py).
    assert looks_secret(key)


@pytest.mark.parametrize(
    "key", ["clientId", "username", "tokenEndpoint", "tokenUrl", "headerName", "scope", "name"]
)
def test_ordinary_field_names_are_not_secret(key: str) -> None:
    assert not looks_secret(key)
    assert not is_secret_field(key)


def test_a_literal_secret_is_refused_without_echoing_it() -> None:
    problem = check_secret_field("clientSecret", CANARY)
    assert problem is not None
    assert problem.rule == "secret-literal"
    assert CANARY not in problem.message
    assert "${env:CLIENT_SECRET}" in problem.message


@pytest.mark.parametrize(
    "value", ["${env:SF_SECRET}", "${file:secrets/sf.txt}", "${file:.secrets/s}"]
)
def test_secret_references_are_accepted(value: str) -> None:
    assert check_secret_field("clientSecret", value) is None


@pytest.mark.parametrize("value", ["${env:A}${env:B}", "x${env:A}", "${env:A}x"])
def test_anything_but_exactly_one_reference_is_a_literal(value: str) -> None:
    problem = check_secret_field("password", value)
    assert problem is not None
    assert problem.rule == "secret-literal"


@pytest.mark.parametrize(
    "value", ["${env:}", "${env:1X}", "${file:}", "${ENV:PASSWORD}", "${}", "${env:PASSWORD"]
)
def test_a_mistyped_reference_is_a_syntax_error_not_a_literal_secret(value: str) -> None:
    problem = check_secret_field("password", value)
    assert problem is not None
    assert problem.rule == "ref-syntax"
    assert "malformed reference" in problem.message
    assert value not in problem.message


def test_vars_substitute_anywhere_in_a_string() -> None:
    value, problems = substitute_vars(
        "endpointUrl", "https://${var:host}:${var:port}/x", {"host": "crm.example", "port": "8443"}
    )
    assert (value, problems) == ("https://crm.example:8443/x", [])


def test_double_dollar_writes_a_literal_reference() -> None:
    value, problems = substitute_vars(
        "description", "cost: $${var:host} ${var:host}", {"host": "h"}
    )
    assert (value, problems) == ("cost: ${var:host} h", [])


@pytest.mark.parametrize(
    ("value", "unclosed", "substituted"),
    [
        ("${var:host/path", "${var:host/path", "${var:host/path"),
        ("https://${var:host", "${var:host", "https://${var:host"),
        # The body stops at the next `${`, so the reference after it still works.
        ("${var:host ${var:host}/x", "${var:host ", "${var:host h/x"),
    ],
)
def test_an_unclosed_reference_is_a_syntax_error(
    value: str, unclosed: str, substituted: str
) -> None:
    new, problems = substitute_vars("endpointUrl", value, {"host": "h"})
    assert new == substituted
    assert [(p.rule, p.message) for p in problems] == [
        (
            "ref-syntax",
            f"'{unclosed}' is not closed; add the missing '}}' (write $${{ for a literal ${{)",
        )
    ]


def test_an_escaped_unclosed_reference_is_literal_text() -> None:
    assert substitute_vars("description", "costs $${var:x", {}) == ("costs ${var:x", [])


def test_unknown_var_lists_the_defined_ones() -> None:
    value, problems = substitute_vars("endpointUrl", "${var:nope}", {"b": "1", "a": "2"})
    assert value == "${var:nope}"
    assert [(p.rule, p.message) for p in problems] == [
        (
            "unknown-var",
            "unknown variable 'nope' (defined: a, b); add it under the "
            "environment's `vars` in cxrecon.yaml",
        )
    ]


@pytest.mark.parametrize("variables", [None, {}, {"other": "1"}])
def test_unknown_var_without_a_project_file_says_to_create_one(
    variables: dict[str, str] | None,
) -> None:
    _, problems = substitute_vars("endpointUrl", "${var:host}", variables, project_file=False)
    assert [p.rule for p in problems] == ["unknown-var"]
    message = problems[0].message
    assert "there is no cxrecon.yaml; create it" in message
    assert "`vars: {host: …}`" in message
    assert "add it under" not in message


def test_resolve_env_reference() -> None:
    secret = resolve_secret("${env:SF_SECRET}", {"SF_SECRET": CANARY}, Path("."))
    assert secret.reveal() == CANARY
    assert CANARY not in repr(secret)


@pytest.mark.parametrize(
    ("environ", "state"), [({}, "is not set"), ({"SF_SECRET": ""}, "is empty")]
)
def test_missing_env_variable_is_named(environ: dict[str, str], state: str) -> None:
    with pytest.raises(SecretResolutionError, match=f"environment variable SF_SECRET {state}"):
        resolve_secret("${env:SF_SECRET}", environ, Path("."))


def test_file_reference_is_relative_to_base_dir_and_loses_its_newline(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "sf.txt").write_text(CANARY + "\n", encoding="utf-8")
    secret = resolve_secret("${file:secrets/sf.txt}", {}, tmp_path)
    assert secret.reveal() == CANARY


def test_an_absolute_file_reference_is_refused_even_inside_the_project(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(CANARY, encoding="utf-8")
    with pytest.raises(SecretResolutionError, match="is an absolute path") as raised:
        resolve_secret(f"${{file:{path}}}", {}, tmp_path)
    assert CANARY not in str(raised.value)


def test_missing_and_empty_secret_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(SecretResolutionError, match=r"secret file .*absent does not exist"):
        resolve_secret("${file:absent}", {}, tmp_path)
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    with pytest.raises(SecretResolutionError, match=r"secret file .*empty is empty"):
        resolve_secret("${file:empty}", {}, tmp_path)


def test_unreadable_secret_file_error_does_not_show_its_content(tmp_path: Path) -> None:
    path = tmp_path / "binary"
    path.write_bytes(b"\xff" + CANARY.encode())
    with pytest.raises(SecretResolutionError) as raised:
        resolve_secret("${file:binary}", {}, tmp_path)
    assert CANARY not in str(raised.value)
    assert "UnicodeDecodeError" in str(raised.value)


def test_a_literal_is_never_resolved_or_echoed() -> None:
    with pytest.raises(SecretResolutionError) as raised:
        resolve_secret(CANARY, {}, Path("."))
    assert CANARY not in str(raised.value)


def test_resolve_all_reports_every_missing_reference_at_once() -> None:
    credentials = {
        "clientId": "client",
        "clientSecret": "${env:SF_SECRET}",
        "password": "${env:SF_PASSWORD}",
    }
    with pytest.raises(SecretResolutionError) as raised:
        SecretLookup({"OTHER": CANARY}, Path(".")).resolve_all(credentials)
    message = str(raised.value)
    assert "SF_SECRET" in message
    assert "SF_PASSWORD" in message
    assert CANARY not in message


def test_resolve_all_registers_every_resolved_secret() -> None:
    seen: list[Secret] = []
    lookup = SecretLookup({"S": CANARY}, Path("."), register=seen.append)
    resolved = lookup.resolve_all({"clientId": "client", "clientSecret": "${env:S}"})
    assert resolved == {"clientId": "client", "clientSecret": CANARY}
    assert seen == [Secret(CANARY)]


# --- references in credential fields that are not secret (issue 14) -----------------------

_OAUTH_CONNECTOR = (
    "name: Ref-Creds\n"
    "lifecycleStatus: ACTIVE\n"
    "connectorType: CUSTOM\n"
    "endpointUrl: https://crm.acme.example/api\n"
    "authentication:\n"
    "  type: OAUTH2\n"
    "  credentials:\n"
    "    tokenEndpoint: {token}\n"
    "    clientId: {client}\n"
    "    clientSecret: ${{env:CRM_CLIENT_SECRET}}\n"
    "    scope: {scope}\n"
    "mappings:\n"
    "  - cxoneField: contact.external_id\n"
    "    crmField: id\n"
    "    direction: INBOUND\n"
)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`tmp_path` as the working directory: the project folder `${file:}` stays inside."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _load_oauth(
    tmp_path: Path,
    token: str = "https://login.acme.example/token",  # noqa: S107 - a URL
    client: str = "app-1",
    scope: str = "api",
    endpoint: str = "https://crm.acme.example/api",
) -> LoadResult:
    text = _OAUTH_CONNECTOR.format(token=token, client=client, scope=scope)
    text = text.replace("https://crm.acme.example/api", endpoint)
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    return read_desired(tmp_path, EnvironmentConfig("test", vars={"host": "login.acme.example"}))


@pytest.mark.parametrize(
    ("token", "client", "scope"),
    [
        ("${env:CRM_TOKEN_URL}", "${env:CRM_CLIENT_ID}", "api"),
        ("https://${var:host}/token", "${file:.secrets/client-id}", "${env:CRM_SCOPE}"),
        ("${file:.secrets/token-url}", "app-1", "${file:.secrets/scope}"),
    ],
)
def test_every_credential_field_accepts_env_and_file_references(
    in_tmp: Path, token: str, client: str, scope: str
) -> None:
    result = _load_oauth(in_tmp, token, client, scope)
    assert result.diagnostics == ()
    [connector] = result.connectors
    credentials = connector.spec.authentication.credentials
    # Kept as references: resolved only by apply (and by plans that have the values).
    for key, value in {"tokenEndpoint": token, "clientId": client, "scope": scope}.items():
        if value.startswith(("${env:", "${file:")):
            assert credentials[key] == value


def test_a_basic_username_and_an_api_key_header_may_be_references(in_tmp: Path) -> None:
    tmp_path = in_tmp
    (tmp_path / "c.yaml").write_text(
        connector_yaml().replace(
            "    apiKey: ${env:CRM_API_KEY}\n",
            "    apiKey: ${env:CRM_API_KEY}\n    headerName: ${env:CRM_API_HEADER}\n",
        ),
        encoding="utf-8",
    )
    basic = tmp_path / "basic"
    basic.mkdir()
    (basic / "b.yaml").write_text(
        connector_yaml("Basic-One").replace(
            "  type: API_KEY\n  credentials:\n    apiKey: ${env:CRM_API_KEY}\n",
            "  type: BASIC\n  credentials:\n    username: ${env:CRM_USER}\n"
            "    password: ${file:.secrets/crm-password}\n",
        ),
        encoding="utf-8",
    )
    result = read_desired(tmp_path)
    assert result.diagnostics == ()
    assert {c.name for c in result.connectors} == {"Test-Connector", "Basic-One"}


@pytest.mark.parametrize(
    ("client", "rule"),
    [
        ("${env:CXONE_CLIENT_ID}", "ref-reserved-variable"),
        ("${env:GITHUB_TOKEN}", "ref-reserved-variable"),
        ("${file:/etc/hostname}", "ref-outside-project"),
        ("${file:../outside}", "ref-outside-project"),
        ("${file:.git/config}", "ref-outside-project"),
        ("app-${env:CRM_CLIENT_ID}", "secret-ref-misplaced"),
        ("${env:CRM_A}${env:CRM_B}", "secret-ref-misplaced"),
        ("${env:CRM CLIENT}", "ref-syntax"),
    ],
)
def test_a_credential_reference_the_security_rules_refuse_is_still_refused(
    in_tmp: Path, client: str, rule: str
) -> None:
    (in_tmp / ".git").mkdir()
    result = _load_oauth(in_tmp, client=client)
    assert [(d.rule, d.location.line if d.location else None) for d in result.errors] == [(rule, 9)]
    if rule == "secret-ref-misplaced":
        assert "whole value" in result.errors[0].message


def test_a_reference_outside_the_credentials_still_needs_a_plain_value(in_tmp: Path) -> None:
    result = _load_oauth(in_tmp, endpoint="${env:CRM_URL}")
    assert [d.rule for d in result.errors] == ["secret-ref-misplaced"]
    assert "plans need this value" in result.errors[0].message
