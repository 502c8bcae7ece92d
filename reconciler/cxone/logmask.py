"""Credentials masked in the HTTP stack's own log records: httpcore logs response headers
verbatim at DEBUG, so a server echoing our Authorization header would leak the token.

`install_log_masking()` (idempotent; the client module calls it) puts one `CredentialMask`
on the `httpx` and `httpcore` loggers and on each `httpcore.*` child: a logger's filters only
see records logged on that very logger, and httpcore logs on `httpcore.http11` and friends.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Final

from reconciler.cxone.errors import scrub

_MASK: Final = "***"
_NAMES: Final = r"(?:proxy-authorization|authorization|set-cookie|cookie)"
#: A header as a pair or a mapping entry: `(b'Authorization', b'…')`, `'cookie': '…'`.
_QUOTED: Final = re.compile(
    rf"""(b?(['"]){_NAMES}\2\s*[,:=]\s*b?)(['"])(?:\\.|(?!\3).)*\3""", re.IGNORECASE
)
#: A header line or a key=value: `Authorization: Bearer …`, `Set-Cookie: a=b; Path=/`.
_BARE: Final = re.compile(rf"""(\b{_NAMES}\s*[:=]\s*)[^\r\n'"]+""", re.IGNORECASE)
#: Loggers httpx and httpcore log on (children are listed: filters do not propagate).
LOGGERS: Final = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


def mask_credentials(text: str) -> str:
    """`text` with Authorization, Proxy-Authorization, Cookie and Set-Cookie values and
    anything token-shaped (bearer/basic credentials, `token=`…) replaced by ***."""
    text = _QUOTED.sub(lambda m: f"{m.group(1)}{m.group(3)}{_MASK}{m.group(3)}", text)
    text = _BARE.sub(lambda m: m.group(1) + _MASK, text)
    return scrub(text)


class CredentialMask(logging.Filter):
    """Masks credentials in a record's message and arguments; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot be formatted is masked all the same
            message = f"{record.msg} {record.args!r}"
        masked = mask_credentials(message)
        if masked != message:
            # The arguments are folded into the message: masking each one alone would miss
            # a header list whose repr only shows the token once formatted.
            record.msg, record.args = masked, None
        return True


_MASK_FILTER: Final = CredentialMask()
_LOCK: Final = threading.Lock()


def install_log_masking() -> None:
    """Put the mask on every httpx/httpcore logger that exists now or is known; twice is
    the same as once."""
    with _LOCK:
        names = set(LOGGERS)
        names.update(
            name
            for name in list(logging.root.manager.loggerDict)
            if name.startswith(("httpx.", "httpcore."))
        )
        for name in sorted(names):
            logger = logging.getLogger(name)
            if not any(isinstance(f, CredentialMask) for f in logger.filters):
                logger.addFilter(_MASK_FILTER)
