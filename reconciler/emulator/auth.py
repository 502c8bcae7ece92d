"""OAuth 2.0 for the emulator: the token endpoint and bearer-token checks.

client_credentials (client auth by HTTP Basic or in a JSON/form body) and the password grant
with HTTP Basic client auth, as real CXone does. Tokens expire; scopes are enforced per method.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request
from starlette.responses import Response

from reconciler.emulator.config import TOKEN_BODY_MAX, EmulatorConfig, Knobs, OAuthClient
from reconciler.emulator.problem import JSON, ApiProblem, Detail, dumps
from reconciler.emulator.request_checks import check_content_type, parse_json_object
from reconciler.emulator.resource import Clock
from reconciler.emulator.store import Store, TokenRow
from reconciler.hashing import same_digest, sha256_hex

FORM: Final = "application/x-www-form-urlencoded"
REALM: Final = 'realm="cxone"'
TOKEN_FIELDS: Final = frozenset(
    {"grant_type", "client_id", "client_secret", "scope", "username", "password"}
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request is from, as its bearer token says."""

    client_id: str
    scopes: frozenset[str]


def oauth_error(status: int, error: str, description: str, basic: bool = False) -> ApiProblem:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = f"Basic {REALM}" if basic else f"Bearer {REALM}"
    return ApiProblem(status, error, description, (), headers)


def unauthorized(error: str, message: str) -> ApiProblem:
    header = f'Bearer {REALM}, error="{error}"' if error == "invalid_token" else f"Bearer {REALM}"
    return ApiProblem(401, error, message, (), {"WWW-Authenticate": header})


def insufficient_scope(scope: str) -> ApiProblem:
    return ApiProblem(
        403,
        "insufficient_scope",
        f"this operation needs the {scope} scope; request a token with it",
        (Detail("scope", f"missing {scope}"),),
        {"WWW-Authenticate": f'Bearer {REALM}, error="insufficient_scope", scope="{scope}"'},
    )


class TokenService:
    """Issues tokens and checks them. Only token hashes are stored; lookups are cached."""

    def __init__(self, config: EmulatorConfig, knobs: Knobs, store: Store, clock: Clock) -> None:
        self.clients: Mapping[str, OAuthClient] = config.clients
        self.users = config.users
        self.knobs = knobs
        self.store = store
        self.clock = clock
        self._cache: dict[str, TokenRow] = {}

    def issue(self, client_id: str, scopes: frozenset[str]) -> tuple[str, int]:
        token = secrets.token_urlsafe(32)
        ttl = self.knobs.token_ttl
        now = self.clock.now()
        row = TokenRow(client_id, scopes, now + ttl)
        with self.store.write() as tx:
            tx.forget_tokens_before(now - 24 * 3600)
            tx.insert_token(_hash(token), row)
        self._cache[_hash(token)] = row
        return token, ttl

    def verify(self, authorization: str | None) -> Principal:
        """The principal behind an `Authorization: Bearer` header, or a 401 problem."""
        if not authorization:
            raise unauthorized("unauthorized", "missing Authorization: Bearer <token> header")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthorized("unauthorized", "the Authorization header must be Bearer <token>")
        key = _hash(token)
        row = self._cache.get(key)
        if row is None:
            row = self.store.read().token(key)
            if row is None:
                raise unauthorized("invalid_token", "the access token is not known; get a new one")
            self._cache[key] = row
        if self.clock.now() >= row.expires_at:
            raise unauthorized("invalid_token", "the access token has expired; get a new one")
        return Principal(row.client_id, row.scopes)

    def forget_cache(self) -> None:
        self._cache.clear()

    async def endpoint(self, request: Request) -> Response:
        """POST /oauth/token."""
        params = await _token_params(request)
        grant = _grant_of(params)
        client_id, secret = _client_of(request, params, grant)
        client = self.clients.get(client_id)
        if client is None or not same_digest(client.secret.encode(), secret.encode()):
            raise oauth_error(
                401, "invalid_client", "unknown client or wrong client secret", basic=True
            )
        if grant == "password":
            self._check_user(params)
        scopes = _granted_scopes(client, params)
        token, ttl = self.issue(client_id, scopes)
        body = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ttl,
            "scope": " ".join(sorted(scopes)),
        }
        return Response(
            dumps(body),
            200,
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
            media_type=JSON,
        )

    def _check_user(self, params: Mapping[str, str]) -> None:
        """The password grant's username and password, checked against the known users."""
        username, password = params.get("username", ""), params.get("password", "")
        if not username or not password:
            raise oauth_error(400, "invalid_request", "username and password are required")
        expected = self.users.get(username)
        if expected is None or not same_digest(expected.encode(), password.encode()):
            raise oauth_error(400, "invalid_grant", "wrong username or password")


def _grant_of(params: Mapping[str, str]) -> str:
    """The request's grant_type; an OAuth error unless client_credentials or password."""
    grant = params.get("grant_type")
    if not grant:
        raise oauth_error(400, "invalid_request", "grant_type is required")
    if grant not in ("client_credentials", "password"):
        raise oauth_error(
            400,
            "unsupported_grant_type",
            f"grant_type {grant!r} is not supported; use client_credentials or password",
        )
    return grant


def _client_of(request: Request, params: Mapping[str, str], grant: str) -> tuple[str, str]:
    """The client id and secret, from HTTP Basic or the body (one of them, not both)."""
    basic = _basic_credentials(request.headers.get("authorization"))
    in_body = "client_id" in params or "client_secret" in params
    if basic is not None and in_body:
        raise oauth_error(
            400,
            "invalid_request",
            "authenticate the client either by HTTP Basic or in the body",
        )
    if grant == "password" and basic is None:
        raise oauth_error(
            401,
            "invalid_client",
            "the password grant needs HTTP Basic client authentication",
            basic=True,
        )
    if basic is not None:
        return basic
    return params.get("client_id", ""), params.get("client_secret", "")


def _granted_scopes(client: OAuthClient, params: Mapping[str, str]) -> frozenset[str]:
    """The scopes asked for (all the client's when none are); an error for any not granted."""
    if not params.get("scope"):
        return client.scopes
    asked = frozenset(params["scope"].split())
    extra = sorted(asked - client.scopes)
    if extra:
        raise oauth_error(
            400, "invalid_scope", f"scope(s) not granted to this client: {' '.join(extra)}"
        )
    return asked


def _hash(token: str) -> str:
    return sha256_hex(token.encode())


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise oauth_error(
            401, "invalid_client", "client authentication must use HTTP Basic", basic=True
        )
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise oauth_error(
            401, "invalid_client", "malformed HTTP Basic credentials", basic=True
        ) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise oauth_error(401, "invalid_client", "malformed HTTP Basic credentials", basic=True)
    # RFC 6749 2.3.1: Basic values are form-encoded before base64.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


async def _token_params(request: Request) -> dict[str, str]:
    check_content_type(request.headers.get("content-type"), (FORM, "application/json"))
    body = await request.body()
    params: dict[str, Any]
    if request.headers.get("content-type", "").lower().startswith(FORM):
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise oauth_error(400, "invalid_request", "the form body is not UTF-8") from None
        params = {}
        for key, value in pairs:
            if key in params:
                raise oauth_error(400, "invalid_request", f"parameter {key} is repeated")
            params[key] = value
    else:
        params = parse_json_object(body, TOKEN_BODY_MAX)
    # RFC 6749 3.2: unrecognized parameters are ignored.
    params = {k: v for k, v in params.items() if k in TOKEN_FIELDS}
    for key, value in params.items():
        if not isinstance(value, str):
            raise oauth_error(400, "invalid_request", f"parameter {key} must be a string")
    return params
