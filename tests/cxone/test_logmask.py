"""The HTTP stack's own DEBUG records never show a credential, however it is written."""

from __future__ import annotations

import logging

import pytest

import reconciler.cxone.client  # noqa: F401 - importing the client installs the mask
from reconciler.cxone.logmask import (
    LOGGERS,
    CredentialMask,
    install_log_masking,
    mask_credentials,
)

TOKEN = "tok-3b1f9e0c7d2a44aa"


@pytest.mark.parametrize(
    "text",
    [
        f"receive_response_headers.complete return_value=(b'HTTP/1.1', 200, b'OK', "
        f"[(b'Authorization', b'Bearer {TOKEN}'), (b'Content-Type', b'application/json')])",
        f"[(b'proxy-authorization', b'Basic {TOKEN}')]",
        f"[(b'Set-Cookie', b'session={TOKEN}; Path=/; HttpOnly')]",
        f"""[(b'Cookie', b"a=1; it's={TOKEN}")]""",
        f"{{'authorization': 'Token {TOKEN}', 'accept': '*/*'}}",
        f'{{"Cookie": "sid={TOKEN}"}}',
        f"Authorization: Negotiate {TOKEN}\nAccept: */*",
        f"Set-Cookie: sid={TOKEN}; Expires=Wed, 21 Oct 2026 07:28:00 GMT",
        f"retrying with bearer {TOKEN}",
    ],
    ids=[
        "httpcore-tuple",
        "proxy-basic",
        "set-cookie",
        "cookie-double-quoted",
        "dict",
        "json",
        "header-line",
        "set-cookie-line",
        "bare-bearer",
    ],
)
def test_every_spelling_of_a_credential_header_is_masked(text: str) -> None:
    masked = mask_credentials(text)
    assert TOKEN not in masked
    assert "***" in masked


def test_other_headers_are_left_alone() -> None:
    text = "[(b'Content-Type', b'application/json'), (b'ETag', b'\"c1-v2\"')]"
    assert mask_credentials(text) == text


@pytest.mark.parametrize("name", ["httpcore.http11", "httpcore.connection", "httpx"])
def test_records_of_the_http_loggers_are_masked_in_their_arguments(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=name)
    headers = [(b"Authorization", f"Bearer {TOKEN}".encode())]
    logging.getLogger(name).debug("receive_response_headers.complete return_value=%r", headers)
    (record,) = [r for r in caplog.records if r.name == name]
    assert TOKEN not in record.getMessage()
    assert TOKEN not in caplog.text
    assert "(b'Authorization', b'***')" in record.getMessage()


def test_a_record_that_cannot_be_formatted_is_masked_not_dropped() -> None:
    record = logging.LogRecord(
        "httpcore.http11", logging.DEBUG, __file__, 1, "%s %s", (f"Bearer {TOKEN}",), None
    )
    assert CredentialMask().filter(record)
    assert TOKEN not in record.getMessage()


def test_installing_twice_leaves_one_mask_per_logger() -> None:
    install_log_masking()
    install_log_masking()
    for name in LOGGERS:
        masks = [f for f in logging.getLogger(name).filters if isinstance(f, CredentialMask)]
        assert len(masks) == 1, name


def test_a_logger_httpx_creates_later_is_masked_at_the_next_install() -> None:
    late = logging.getLogger("httpcore.http3-someday")
    install_log_masking()
    assert sum(isinstance(f, CredentialMask) for f in late.filters) == 1
