"""OAuth2 access tokens for the CXone API: client-credentials or password grant, cached.

One refresh at a time however many requests need it; refreshed a safety margin before
expiry and once after a 401. Token values live in `Secret` and never reach a message.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote_plus

import httpx

from reconciler.config.settings import ConnectionSettings
from reconciler.cxone.bounded import MAX_JSON_DEPTH, ResponseLimits, TooDeep, load_json
from reconciler.cxone.discovery import DISCOVERED_OAUTH_URL_HINT
from reconciler.cxone.errors import (
    OAUTH_URL_HINT,
    AuthError,
    CxoneApiError,
    MalformedResponse,
    TransportError,
    error_for_status,
    failure_reason,
    host_of,
    scrub,
    server_message,
    summary_for_status,
)
from reconciler.cxone.retry import RetryPolicy
from reconciler.cxone.safe_fetch import SafeFetch, fetch_with_retries
from reconciler.cxone.stats import ApiStats
from reconciler.secret import Secret

log = logging.getLogger(__name__)

OPERATION: Final = "token"
#: Refresh this long before expiry (capped at a tenth of the token's lifetime).
DEFAULT_MARGIN: Final = 30.0
#: Assumed lifetime when the server omits expires_in (RFC 6749 makes it optional).
DEFAULT_TTL: Final = 300.0
_AUTH_FAILURES: Final = frozenset({400, 401, 403})


@dataclass(frozen=True)
class AccessToken:
    value: Secret
    refresh_at: float  # monotonic time after which a new token is fetched


class TokenProvider:
    """Hands out a valid bearer token; `refresh(stale)` after the API refused `stale`."""

    def __init__(
        self,
        settings: ConnectionSettings,
        http: httpx.AsyncClient,
        *,
        retry: RetryPolicy,
        stats: ApiStats,
        limits: ResponseLimits | None = None,
        margin: float = DEFAULT_MARGIN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._host = host_of(settings.token_url)
        self._limits = limits or ResponseLimits()
        self._http = http
        self._retry = retry
        self._stats = stats
        self._margin = margin
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: AccessToken | None = None

    def __repr__(self) -> str:
        return f"TokenProvider(token_url={self._settings.token_url!r}, grant={self._grant!r})"

    @property
    def _grant(self) -> str:
        return self._settings.grant

    def secrets(self) -> tuple[str, ...]:
        """Every credential value this provider knows, for scrubbing error bodies."""
        values = [self._settings.client_secret.reveal()]
        if self._settings.password is not None:
            values.append(self._settings.password.reveal())
        if self._token is not None:
            values.append(self._token.value.reveal())
        return tuple(v for v in values if v)

    async def token(self) -> Secret:
        current = self._token
        if current is not None and self._clock() < current.refresh_at:
            return current.value
        return await self._refresh_unless_done(current.value if current else None)

    async def refresh(self, stale: Secret) -> Secret:
        """Called after a 401: fetch a new token unless another task already replaced `stale`."""
        return await self._refresh_unless_done(stale)

    async def _refresh_unless_done(self, stale: Secret | None) -> Secret:
        async with self._lock:
            current = self._token
            fresh = current is not None and self._clock() < current.refresh_at
            if current is not None and fresh and current.value != stale:
                return current.value  # someone refreshed while we waited for the lock
            self._token = await self._fetch()
            return self._token.value

    # --- the token request -------------------------------------------------------

    def _request_parts(self) -> tuple[dict[str, str], httpx.BasicAuth | None]:
        s = self._settings
        body: dict[str, str] = {"grant_type": s.grant}
        if s.scopes:
            body["scope"] = " ".join(s.scopes)
        if s.grant == "password":
            if s.username is None or s.password is None:
                raise AuthError(
                    "the password grant needs a username and a password",
                    operation=OPERATION,
                    hint="set CXONE_USERNAME and CXONE_PASSWORD",
                )
            body["username"] = s.username
            body["password"] = s.password.reveal()
            # The real CXone authenticates the client with HTTP Basic on the password grant.
            # RFC 6749 2.3.1: id and secret are form-encoded before they go into Basic, so a
            # secret holding '+', '%' or ':' reaches the server as it is.
            return body, httpx.BasicAuth(
                quote_plus(s.client_id), quote_plus(s.client_secret.reveal())
            )
        body["client_id"] = s.client_id
        body["client_secret"] = s.client_secret.reveal()
        return body, None

    async def _fetch(self) -> AccessToken:
        body, basic = self._request_parts()
        url = self._settings.token_url
        path = httpx.URL(url).path
        kwargs: dict[str, Any] = {}
        if self._settings.token_body == "json":  # noqa: S105 - an encoding name
            kwargs["json"] = body
        else:
            kwargs["data"] = body

        def unreachable(exc: httpx.TransportError, attempt: int) -> CxoneApiError:
            return TransportError(
                f"could not reach the token endpoint ({host_of(url)}; "
                f"{failure_reason(exc, self.secrets())})",
                operation=OPERATION,
                method="POST",
                path=path,
                attempts=attempt,
            )

        fetch = SafeFetch(
            operation=OPERATION,
            path=path,
            build=lambda: self._http.build_request("POST", url, **kwargs),
            parse=lambda response, _attempt: self._parse(response, path),
            refused=lambda response, attempt: self._status_error(response, path, attempt),
            unreachable=unreachable,
            auth=basic,
        )
        return await fetch_with_retries(
            fetch,
            self._http,
            limits=self._limits,
            retry=self._retry,
            stats=self._stats,
            clock=self._clock,
        )

    def _status_error(self, response: httpx.Response, path: str, attempt: int) -> CxoneApiError:
        status = response.status_code
        cls = AuthError if status in _AUTH_FAILURES else error_for_status(status)
        summary = (
            "the token endpoint refused the credentials"
            if cls is AuthError
            else summary_for_status(status)
        )
        text = _scrubbed_text(response, self.secrets())
        return cls(
            summary,
            operation=OPERATION,
            method="POST",
            path=path,
            status=status,
            body=text,
            server_message=server_message(text),
            attempts=attempt,
            hint=self._not_found_hint() if status in (404, 405) else None,
            host=self._host,
        )

    def _not_found_hint(self) -> str:
        if self._settings.discovery is None:
            return OAUTH_URL_HINT
        return DISCOVERED_OAUTH_URL_HINT

    def _parse(self, response: httpx.Response, path: str) -> AccessToken:
        def bad(what: str) -> MalformedResponse:
            return MalformedResponse(
                f"the token response {what}",
                operation=OPERATION,
                method="POST",
                path=path,
                status=response.status_code,
                host=self._host,
            )

        try:
            data = load_json(response.content)
        except TooDeep:
            raise bad(f"nests JSON deeper than {MAX_JSON_DEPTH} levels") from None
        except ValueError:
            raise bad("is not JSON") from None
        if not isinstance(data, dict):
            raise bad("is not a JSON object")
        value = data.get("access_token")
        if not isinstance(value, str) or not value:
            raise bad("has no access_token string")
        if not value.isascii() or not value.isprintable() or " " in value:
            raise bad("has an access_token that cannot go into a header")
        token_type = data.get("token_type", "Bearer")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise bad("has a token_type other than Bearer")
        ttl = data.get("expires_in", DEFAULT_TTL)
        if isinstance(ttl, str) and ttl.isdigit():
            ttl = int(ttl)
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl):
            raise bad("has an expires_in that is not a number")
        if ttl <= 0:
            raise bad("has an expires_in that is not positive")
        margin = min(self._margin, ttl / 10.0)
        log.debug("got an access token valid for %ss", ttl)
        return AccessToken(value=Secret(value), refresh_at=self._clock() + ttl - margin)


def _scrubbed_text(response: httpx.Response, secrets: tuple[str, ...]) -> str:
    try:
        return scrub(response.text, secrets)
    except (UnicodeDecodeError, LookupError):
        return f"<{len(response.content)} bytes, not text>"
