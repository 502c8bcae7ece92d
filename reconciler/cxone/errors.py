"""Typed errors of the CXone API client: what failed, in which operation, and what to do.

    ApiError (reconciler.errors)
     └── CxoneApiError          a failed call: operation, method, path, status, short body
          ├── AuthError               401 after one token refresh, or the token endpoint refused us
          ├── PermissionDenied        403: the API client lacks a scope or a role
          ├── NotFound                404
          ├── Conflict                409 / 412: stale ETag or a clashing resource (`.status`)
          ├── PreconditionRequired    428: a write reached the server without If-Match
          ├── WeakETag                a weak ETag (W/"…") can never satisfy If-Match: not sent
          ├── ListingTooLarge         the listing passed CXONE_MAX_CONNECTORS / _LISTING_BYTES
          ├── ValidationFailed        400 / 422, with the server's own message
          ├── RateLimited             429 after the retry budget was spent
          ├── ServerError             5xx after the retry budget was spent
          ├── TransportError          connect / read / timeout / dropped connection
          │    └── ResponseTimeout    the whole answer did not arrive within its deadline
          ├── MalformedResponse       not JSON, nested too deep, missing fields, wrong types
          │    ├── UnsafeIdentifier   an id that must not enter a URL path
          │    └── ResponseTooLarge   the answer passed the byte cap (counted decoded)
          └── InconsistentListing     the tenant changed while its pages were read

Bodies are cut to `BODY_LIMIT` characters and scrubbed of anything token-shaped;
paths never carry a query string; `host` names the server that answered (or did not).
No message ever contains a token or a secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, Final

import httpx

from reconciler.errors import ApiError
from reconciler.secret import spellings

#: How much of a response body an error keeps (enough to debug, too little to flood a log).
BODY_LIMIT: Final = 500
#: How much of a body is read for quoting: masked whole, then cut to BODY_LIMIT. Masking
#: before the cut keeps half a secret out of the quote; the window keeps a body of many
#: megabytes from costing seconds and gigabytes on its way to 500 characters.
QUOTE_WINDOW: Final = 8 * BODY_LIMIT
_MASK: Final = "***"

# Values of these keys are masked in bodies, whether the body is JSON or a form: any key
# ending like a secret-bearing name (the guess of reconciler.secret.looks_secret:
# `clientSecret`, `privateKey`, `access_token`, `X-API-Key`…), so a body quoting a request's
# credentials is covered too.
_SENSITIVE_KEY: Final = (
    r"(?:[\w.-]*?(?:token|secret|password|passwd|api[_-]?key|private[_-]?key)|"
    r"authorization|credentials?)"
)
_JSON_SECRET = re.compile(rf'("{_SENSITIVE_KEY}"\s*:\s*)("(?:[^"\\]|\\.)*"|[^,}}\]\s]+)', re.I)
_FORM_SECRET = re.compile(rf"(\b{_SENSITIVE_KEY}=)([^&\s]+)", re.I)
_BEARER = re.compile(r"(\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]+", re.I)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask known secret values, however the server re-encoded them, and anything shaped
    like a credential in `text`."""
    known = {form for s in secrets if len(s) >= 4 for form in spellings(s) if len(form) >= 4}
    for value in sorted(known, key=len, reverse=True):
        text = text.replace(value, _MASK)
    text = _JSON_SECRET.sub(lambda m: m.group(1) + f'"{_MASK}"', text)
    text = _FORM_SECRET.sub(lambda m: m.group(1) + _MASK, text)
    return _BEARER.sub(lambda m: m.group(1) + _MASK, text)


def shorten(text: str, limit: int = BODY_LIMIT) -> str:
    """One line, at most `limit` characters, control characters escaped."""
    # Every character shows as one or more, so the first limit + 1 decide the result.
    head = text.strip()[: limit + 1]
    flat = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in head)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def shown_header(response: httpx.Response, name: str, default: str, limit: int = 60) -> str:
    """Header `name` as a message may quote it: ASCII only (a proxy may put any byte in a
    header; others are escaped, never echoed raw), one line, at most `limit` characters."""
    value = response.headers.get(name)
    if not value:
        return default
    return shorten(value.encode("ascii", "backslashreplace").decode("ascii"), limit)


def quotable_text(response: httpx.Response) -> str:
    """The start of `response`'s body as text (QUOTE_WINDOW characters at most), to quote in
    an error; never the whole of a body that may be megabytes long."""
    head = response.content[: QUOTE_WINDOW * 4]  # UTF-8 takes at most 4 bytes a character
    try:
        return head.decode(response.encoding or "utf-8", errors="replace")[:QUOTE_WINDOW]
    except LookupError:
        return f"<{len(response.content)} bytes, not text>"


def failure_reason(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """`ConnectError: [Errno -2] Name or service not known`: the exception's type and the text
    of its root cause (the OS or TLS reason, what a user can act on, where the outer text is
    often just "All connection attempts failed"), scrubbed and cut short."""
    root = exc
    for _ in range(10):  # causes can chain back on themselves
        cause = root.__cause__ or root.__context__
        if cause is None or not str(cause):
            break
        root = cause
    text = shorten(scrub(str(root), secrets), 160)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def host_of(url: str) -> str:
    """`host[:port]` of `url` (never its user info), to say which server could not be reached."""
    parsed = httpx.URL(url)
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host


def server_message(text: str) -> str:
    """What the server said, from the API's {error, message, details}, OAuth's
    {error, error_description}, or a short plain-text body (never an HTML page)."""
    try:
        data = json.loads(text)
    except RecursionError:
        return ""  # nested past the parser's depth: nothing a user could read
    except ValueError:
        plain = text.strip()
        return "" if plain.startswith("<") else plain
    if not isinstance(data, dict):
        return ""
    keys = ("error", "message", "error_description")
    said = ": ".join(str(data[k]) for k in keys if isinstance(data.get(k), str | int))
    details = data.get("details")
    if details:
        said += f" ({json.dumps(details, separators=(',', ':'), default=str)})"
    return said


class CxoneApiError(ApiError):
    """A call to the CXone API failed. Carries where it failed, never a credential."""

    hint = "check the tenant's state and run the command again"

    def __init__(
        self,
        summary: str,
        *,
        operation: str,
        method: str = "",
        path: str = "",
        status: int | None = None,
        body: str = "",
        server_message: str = "",
        attempts: int = 1,
        retry_after: float | None = None,
        hint: str | None = None,
        host: str = "",
    ) -> None:
        self.summary = summary
        self.operation = operation
        self.method = method
        self.path = path.split("?", 1)[0]
        self.host = host
        self.status = status
        self.body = shorten(scrub(body[:QUOTE_WINDOW]))
        self.server_message = shorten(scrub(server_message), 200)
        self.attempts = attempts
        self.retry_after = retry_after
        if hint is not None:
            self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.method} {self.path}".strip()
        if self.host:
            where += f" on {self.host}"
        status = f" → HTTP {self.status}" if self.status is not None else ""
        tried = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        said = f"; server said: {self.server_message}" if self.server_message else ""
        return f"{self.operation}: {self.summary} ({where}{status}{tried}){said}. {self.hint}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(operation={self.operation!r}, status={self.status!r})"


class AuthError(CxoneApiError):
    hint = "check CXONE_CLIENT_ID / CXONE_CLIENT_SECRET (and the grant) for this environment"


class PermissionDenied(CxoneApiError):
    hint = "grant the API client the crm:connectors:read/write scopes or the needed role"


class NotFound(CxoneApiError):
    hint = "the connector may have been deleted outside cxrecon; re-run plan"


#: A 404 on a route that always exists (the list, the token endpoint) means a wrong URL.
BASE_URL_HINT: Final = (
    "check CXONE_BASE_URL (or baseUrl in cxrecon.yaml): it must be the API root, e.g. "
    "https://api-na1.niceincontact.com/api/v2"
)
OAUTH_URL_HINT: Final = (
    "check CXONE_TOKEN_URL (or tokenUrl in cxrecon.yaml; default CXONE_BASE_URL + "
    "/oauth/token): it must be the tenant's OAuth token endpoint"
)


class Conflict(CxoneApiError):
    hint = "the connector changed since it was read; re-read it and plan again"


class PreconditionRequired(CxoneApiError):
    hint = "a proxy may be stripping If-Match; cxrecon never writes without it"


class WeakETag(CxoneApiError):
    """The ETag to send in If-Match is weak: RFC 9110 compares If-Match strongly, so the
    server would answer 412 to every attempt. Refused before sending, never retried."""

    hint = (
        "a proxy between cxrecon and CXone probably weakened it (proxies that compress "
        "answers do): let cxrecon reach the API around it, or turn its compression off "
        "for the API, then run again"
    )


class ListingTooLarge(CxoneApiError):
    """The connector listing passed a bound the user can raise (the setting is named)."""

    hint = (
        "if the tenant really holds that many, raise the setting (or maxConnectors / "
        "maxListingBytes for the environment in cxrecon.yaml); otherwise check that "
        "CXONE_BASE_URL (and any proxy in between) leads to the CXone API"
    )


#: A 422 idempotency_key_reused is about the request's key, never the connector's content.
IDEMPOTENCY_KEY_REUSED_HINT: Final = (
    "the server answered a different request under this Idempotency-Key before (it keeps "
    "keys for 24 h); the key clashed, not the connector: run the command again (every new "
    "attempt sends a new key)"
)


class ValidationFailed(CxoneApiError):
    hint = "fix the connector definition the server rejected"

    def __init__(self, summary: str, **kwargs: Any) -> None:
        said = str(kwargs.get("server_message") or "")
        if kwargs.get("hint") is None and said.startswith("idempotency_key_reused"):
            summary = "the Idempotency-Key was already used for a different request"
            kwargs["hint"] = IDEMPOTENCY_KEY_REUSED_HINT
        super().__init__(summary, **kwargs)


class RateLimited(CxoneApiError):
    hint = "lower --parallelism or ask for a higher API quota, then run again"


class ServerError(CxoneApiError):
    hint = "the CXone API is failing; try again later"


class TransportError(CxoneApiError):
    hint = "check network access to CXONE_BASE_URL (proxy, DNS, TLS: CXONE_CA_BUNDLE)"


class ResponseTimeout(TransportError):
    hint = (
        "the server (or a proxy) sent its answer too slowly to trust; check the network "
        "path to CXONE_BASE_URL and run again"
    )


class MalformedResponse(CxoneApiError):
    hint = "the server's answer does not match the API contract; check CXONE_BASE_URL"


class UnsafeIdentifier(MalformedResponse):
    hint = "refusing to put it in a URL path; nothing was written"


class ResponseTooLarge(MalformedResponse):
    hint = (
        "no CXone answer is that large; check that CXONE_BASE_URL (and any proxy in "
        "between) leads to the CXone API"
    )


class InconsistentListing(CxoneApiError):
    hint = (
        "connectors were created or deleted while the list was read, or the server's pages "
        "(skip, top) do not stay put; run the command again, and if it keeps failing check "
        "CXONE_BASE_URL and any proxy in between"
    )


def error_for_status(status: int) -> type[CxoneApiError]:
    """The error class for an HTTP status that is not a success."""
    by_status: dict[int, type[CxoneApiError]] = {
        400: ValidationFailed,
        401: AuthError,
        403: PermissionDenied,
        404: NotFound,
        409: Conflict,
        412: Conflict,
        422: ValidationFailed,
        428: PreconditionRequired,
        429: RateLimited,
    }
    if status in by_status:
        return by_status[status]
    return ServerError if status >= 500 else CxoneApiError


STATUS_SUMMARIES: Final = {
    400: "the request was rejected as invalid",
    401: "the access token was refused",
    403: "permission denied",
    404: "not found",
    409: "conflict with the current state",
    412: "the ETag no longer matches (modified elsewhere)",
    422: "the server could not accept the connector",
    428: "the server requires If-Match",
    429: "rate limited",
}


def summary_for_status(status: int) -> str:
    if status in STATUS_SUMMARIES:
        return STATUS_SUMMARIES[status]
    return "server error" if status >= 500 else f"unexpected HTTP status {status}"
