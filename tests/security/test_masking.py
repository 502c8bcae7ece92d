"""Masking holds however a secret comes back: JSON-escaped, nested, form- or URL-encoded, under
a camelCase key. Regressions of the leaks the end-to-end campaign found."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote_plus

import pytest

from reconciler.apply.actor import Actor
from reconciler.apply.audit import AuditLog
from reconciler.apply.audit_records import AuditEvent
from reconciler.config.settings import ConnectionSettings
from reconciler.cxone.client import CxoneClient
from reconciler.cxone.errors import CxoneApiError, ValidationFailed, scrub, server_message
from reconciler.cxone.parse import Origin
from reconciler.cxone.retry import Replay, RetryPolicy
from reconciler.cxone.session import Request
from reconciler.model import Authentication
from reconciler.secret import Secret, spellings

from .indiscreet import IndiscreetServer

#: A secret with every character that changes when re-encoded.
AWKWARD = 'CANARY-awkward-7d1e"\\&+%=/ä'
CORE = "CANARY-awkward-7d1e"


@pytest.mark.parametrize(
    "quoted",
    [
        json.dumps({"clientSecret": AWKWARD}),
        json.dumps({"clientSecret": AWKWARD}, ensure_ascii=False),
        json.dumps({"message": json.dumps({"value": AWKWARD})}),
        "rejected " + quote_plus(AWKWARD),
        f"repr: {AWKWARD!r}",
    ],
    ids=["json-ascii", "json-utf8", "json-nested", "form", "repr"],
)
def test_a_known_secret_is_masked_in_every_spelling(quoted: str) -> None:
    assert CORE not in scrub(quoted, [AWKWARD])


@pytest.mark.parametrize(
    "key", ["clientSecret", "privateKey", "apiToken", "X-API-Key", "client_secret", "password"]
)
def test_a_secret_named_key_is_masked_even_when_the_value_is_unknown(key: str) -> None:
    body = json.dumps({"details": [{"rejected": {key: CORE, "tokenEndpoint": "https://t"}}]})
    scrubbed = scrub(body)
    assert CORE not in scrubbed
    assert "https://t" in scrubbed  # a URL under a *Endpoint key is no secret


def test_a_validation_error_quoting_the_credentials_sent_does_not_repeat_them() -> None:
    # What a server answers when it rejects a create and quotes the credentials it got.
    answer = json.dumps({"error": "invalid", "details": [{"rejected": {"clientSecret": AWKWARD}}]})
    error = ValidationFailed(
        "the request was rejected as invalid",
        operation="create_connector",
        status=400,
        body=scrub(answer, [AWKWARD]),
        server_message=scrub(server_message(answer), [AWKWARD]),
    )
    for text in (str(error), repr(error), error.body, error.server_message):
        assert CORE not in text


def test_the_audit_log_masks_a_registered_secret_in_an_escaped_message(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", actor=Actor(user="ci"), environment="emu")
    log.register_secret(Secret(AWKWARD))
    escaped = json.dumps(AWKWARD)[1:-1]
    log.record(
        AuditEvent(
            connector="c",
            action="create",
            result="failure",
            error_class="ValidationFailed",
            error_message=f"server said: {escaped} / {AWKWARD}",
        )
    )
    log.close()
    assert CORE not in (tmp_path / "audit.jsonl").read_text(encoding="utf-8")


def test_spellings_include_the_value_itself() -> None:
    assert AWKWARD in spellings(AWKWARD)
    assert json.dumps(AWKWARD)[1:-1] in spellings(AWKWARD)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["create-text", "create-500", "reject-credentials"])
async def test_an_api_error_never_carries_the_credentials_a_server_quoted(mode: str) -> None:
    """Message, repr, body and server message of the error, also for a 200 that is not JSON
    (the body of a MalformedResponse was masked only by key shape, not by the values sent)."""
    with IndiscreetServer(token="CANARY-token-5a7c0e91d2") as server:
        base = server.base_url(mode)
        settings = ConnectionSettings(
            base_url=base,
            token_url=base + "/oauth/token",
            client_id="cxrecon-ci",
            client_secret=Secret("CANARY-client-secret-40b2c6"),
        )
        credentials = {"apiKey": AWKWARD + " in plain text", "headerName": "X-Key"}
        body = {"name": "x", "authentication": {"type": "API_KEY", "credentials": credentials}}
        async with CxoneClient(settings, retry=RetryPolicy(max_attempts=1)) as client:
            with pytest.raises(CxoneApiError) as caught:
                await client.create_connector(body, idempotency_key="k-1")
    error = caught.value
    shown = (str(error), repr(error), error.body, error.server_message)
    assert any(text for text in shown[2:]), "the server's quote should be kept, masked"
    for text in shown:
        assert "CANARY-" not in text, text


def test_reprs_of_what_carries_credentials_show_no_values() -> None:
    """A request body with resolved credentials, and credentials a server failed to mask."""
    credentials = {"apiKey": AWKWARD, "headerName": "X-Key"}
    request = Request(
        "create_connector",
        "POST",
        "/crm/connectors",
        Replay.KEYED,
        body={"authentication": {"type": "API_KEY", "credentials": credentials}},
        secrets=(AWKWARD,),
    )
    unmasked = Authentication.from_api({"type": "API_KEY", "credentials": credentials})
    for shown in (repr(request), repr(unmasked), repr(Origin("op", "GET", "/", 200, (AWKWARD,)))):
        assert CORE not in shown
    assert unmasked.credentials["apiKey"] == AWKWARD  # hidden from the repr, not dropped
