"""Response headers of the controller's HTTP server: the status page loads nothing but its own
stylesheet and icon, runs no script and is never framed; no response is content-sniffed.

Kept apart from the page itself so the server imports no template machinery to use them.
"""

from __future__ import annotations

from typing import Final

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def security_headers(content_type: str) -> str:
    """Extra response header lines (each ending in CRLF) for a response of `content_type`."""
    lines = "X-Content-Type-Options: nosniff\r\n"
    if content_type.startswith("text/html"):
        lines += (
            f"Content-Security-Policy: {CONTENT_SECURITY_POLICY}\r\n"
            "Referrer-Policy: no-referrer\r\n"
            "X-Frame-Options: DENY\r\n"
        )
    return lines
