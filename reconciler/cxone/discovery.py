"""The tenant's discovery document: where its API and its token endpoint are.

Real CXone tenants are not reached at one fixed host: a public document,
`https://cxone.niceincontact.com/.well-known/cxone-configuration?tenantId=TENANT`, names the
regional API host of the tenant (`api_endpoint`, e.g. `https://api-na1.niceincontact.com`).
With `CXONE_DISCOVERY_URL` (or `discovery` for the environment in cxrecon.yaml) and no base
URL, `CxoneClient` reads that document once when it opens (so once per run, and once per
cycle of the controller, which opens one client a cycle) and takes from it:

* the API base: the field `CXONE_DISCOVERY_API_FIELD` (default `api_endpoint`) plus
  `CXONE_DISCOVERY_API_PATH` (default `/api/v2`, where the CRM-connector surface lives),
  unless the endpoint already ends with that path;
* the token URL: `CXONE_TOKEN_URL` when set (it wins; real CXone publishes its token
  endpoint in a separate document, `/.well-known/openid-configuration`), else the field
  `CXONE_DISCOVERY_TOKEN_FIELD` (default `token_endpoint`).

The document is an answer from a server like any other: read within `ResponseLimits`
(at most `DISCOVERY_MAX_BYTES`, JSON no deeper than `MAX_JSON_DEPTH`), retried only when a
read may be (connection failures, 5xx, 429), never followed through a redirect. What it
names must be https (plain http only to a loopback host, and only when the document itself
came from one), carry no user info, and, when `CXONE_DISCOVERY_HOSTS` is set, match one of
its host patterns. Anything else is a `DiscoveryError` saying what is wrong, with which
URL, and what to do; nothing is sent to a host the document names until it passed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from fnmatch import fnmatchcase
from typing import Any, Final

import httpx

from reconciler.config.settings import (
    SETTING_NAMES,
    ConnectionSettings,
    DiscoverySettings,
    display_url,
    is_loopback,
)
from reconciler.cxone.bounded import (
    MAX_JSON_DEPTH,
    MiB,
    ResponseLimits,
    TooDeep,
    describe_size,
    load_json,
)
from reconciler.cxone.errors import (
    CxoneApiError,
    ResponseTimeout,
    ResponseTooLarge,
    failure_reason,
    host_of,
    quotable_text,
    server_message,
    shorten,
    shown_header,
    summary_for_status,
)
from reconciler.cxone.retry import RetryPolicy
from reconciler.cxone.safe_fetch import SafeFetch, fetch_with_retries
from reconciler.cxone.stats import ApiStats

log = logging.getLogger(__name__)

OPERATION: Final = "discovery"
#: A discovery document is a few hundred bytes; anything near this is not one.
DISCOVERY_MAX_BYTES: Final = 1 * MiB
#: Field names listed when the one cxrecon looks for is missing.
_LISTED_FIELDS: Final = 12

_URL_VAR: Final = SETTING_NAMES["discovery_url"][0]
_URL_KEY: Final = SETTING_NAMES["discovery_url"][1]
_API_FIELD_VAR: Final = SETTING_NAMES["discovery_api_field"][0]
_TOKEN_FIELD_VAR: Final = SETTING_NAMES["discovery_token_field"][0]
_HOSTS_VAR: Final = SETTING_NAMES["discovery_hosts"][0]

#: The document cannot be used as a discovery document: probably the wrong URL.
URL_HINT: Final = (
    f"check {_URL_VAR} (or `{_URL_KEY}` for the environment in cxrecon.yaml): it must be "
    "the tenant's discovery document, e.g. https://cxone.niceincontact.com/.well-known/"
    "cxone-configuration?tenantId=TENANT_ID; or set CXONE_BASE_URL (and CXONE_TOKEN_URL) "
    "to skip discovery"
)
UNREACHABLE_HINT: Final = (
    f"check network access to it (proxy, DNS, TLS: CXONE_CA_BUNDLE) and {_URL_VAR}; or set "
    "CXONE_BASE_URL (and CXONE_TOKEN_URL) to skip discovery"
)
ENDPOINT_HINT: Final = (
    "cxrecon sends credentials to the endpoints the document names, so it only accepts "
    "https:// ones (plain http only to 127.0.0.1, ::1 or localhost, from a document served "
    f"there too); fix {_URL_VAR}, or set CXONE_BASE_URL and CXONE_TOKEN_URL instead"
)

#: A 404 from the API base or the token URL the document gave.
DISCOVERED_BASE_URL_HINT: Final = (
    f"the API base came from the discovery document ({_URL_VAR}): check "
    f"{SETTING_NAMES['discovery_api_path'][0]} (default /api/v2, appended to the document's "
    f"API endpoint) and {_API_FIELD_VAR}; or set CXONE_BASE_URL to the API root"
)
DISCOVERED_OAUTH_URL_HINT: Final = (
    "the token URL came from the discovery document or CXONE_TOKEN_URL: set CXONE_TOKEN_URL "
    f"(or tokenUrl in cxrecon.yaml) to the tenant's OAuth token endpoint, or "
    f"{_TOKEN_FIELD_VAR} to the document's field that holds it"
)


class DiscoveryError(CxoneApiError):
    """The discovery document could not be read, or does not say where the API is."""

    hint = URL_HINT

    def __init__(self, summary: str, *, url: str, **kwargs: Any) -> None:
        self.url = display_url(url)
        kwargs.setdefault("method", "GET")
        kwargs.setdefault("path", httpx.URL(url).path)
        kwargs.setdefault("host", host_of(url))
        super().__init__(summary, operation=OPERATION, **kwargs)

    def _render(self) -> str:
        status = f", HTTP {self.status}" if self.status is not None else ""
        tried = f", after {self.attempts} attempts" if self.attempts > 1 else ""
        said = f"; server said: {self.server_message}" if self.server_message else ""
        return (
            f"discovery: {self.summary} (discovery document {self.url}{status}{tried}){said}. "
            f"{self.hint}"
        )


async def discover(
    settings: ConnectionSettings,
    http: httpx.AsyncClient,
    *,
    retry: RetryPolicy,
    stats: ApiStats,
    limits: ResponseLimits,
    clock: Callable[[], float] = time.perf_counter,
) -> ConnectionSettings:
    """`settings` with the base and token URLs the discovery document names (`settings`
    itself when it needs no discovery). Raises DiscoveryError."""
    discovery = settings.discovery
    if discovery is None or not settings.needs_discovery:
        return settings
    limits = replace(limits, max_bytes=min(limits.max_bytes, DISCOVERY_MAX_BYTES))
    data = await _fetch(discovery.url, http, retry=retry, stats=stats, limits=limits, clock=clock)
    api_base = _api_base(data, discovery)
    token_url = _token_url(data, discovery, settings.token_url)
    log.debug(
        "discovery document %s: API base %s, token URL %s",
        display_url(discovery.url),
        display_url(api_base),
        display_url(token_url),
    )
    return settings.resolved(api_base, token_url)


# --- reading the document ------------------------------------------------------------


async def _fetch(
    url: str,
    http: httpx.AsyncClient,
    *,
    retry: RetryPolicy,
    stats: ApiStats,
    limits: ResponseLimits,
    clock: Callable[[], float],
) -> dict[str, Any]:
    parsed = httpx.URL(url)
    # Never quoted back: a query or user info in the URL may carry something private.
    hidden = tuple(part for part in (parsed.query.decode(), parsed.password or "") if part)

    def out_of_bounds(exc: CxoneApiError, attempt: int) -> CxoneApiError:
        if isinstance(exc, ResponseTooLarge):
            summary = (
                f"the document is larger than {describe_size(limits.max_bytes)}, so it is not "
                "a discovery document"
            )
            return DiscoveryError(summary, url=url, status=exc.status, attempts=attempt)
        if isinstance(exc, ResponseTimeout):
            return DiscoveryError(
                f"the document did not arrive within {limits.deadline:g} s",
                url=url,
                status=exc.status,
                attempts=attempt,
                hint=UNREACHABLE_HINT,
            )
        return DiscoveryError(
            exc.summary.replace("the answer", "the document", 1),
            url=url,
            status=exc.status,
            attempts=attempt,
        )

    def unreachable(exc: httpx.TransportError, attempt: int) -> CxoneApiError:
        return DiscoveryError(
            f"could not read the discovery document ({failure_reason(exc, hidden)})",
            url=url,
            attempts=attempt,
            hint=UNREACHABLE_HINT,
        )

    fetch = SafeFetch(
        operation=OPERATION,
        path=parsed.path,
        build=lambda: http.build_request("GET", url, headers={"Accept": "application/json"}),
        parse=lambda response, attempt: _parse(response, url, attempt),
        refused=lambda response, attempt: _refused(response, url, attempt),
        unreachable=unreachable,
        out_of_bounds=out_of_bounds,
    )
    return await fetch_with_retries(
        fetch, http, limits=limits, retry=retry, stats=stats, clock=clock
    )


def _refused(response: httpx.Response, url: str, attempt: int) -> DiscoveryError:
    """A redirect (never followed: fails at once), or a status (retried when it allows)."""
    status = response.status_code
    if response.is_redirect:
        target = _redirect_target(response)
        return DiscoveryError(
            f"the discovery URL redirects to {target}; cxrecon does not follow redirects there",
            url=url,
            status=status,
            attempts=attempt,
            hint=f"set {_URL_VAR} to the document's own URL",
        )
    return DiscoveryError(
        f"the discovery document could not be read: {summary_for_status(status)}",
        url=url,
        status=status,
        server_message=server_message(quotable_text(response)),
        attempts=attempt,
        hint=URL_HINT if status in (400, 404, 405, 410) else UNREACHABLE_HINT,
    )


def _redirect_target(response: httpx.Response) -> str:
    """Where a redirect points, as a message shows a URL; a Location that is no URL (any
    byte can arrive there) is not quoted."""
    where = response.headers.get("Location", "")
    if not where:
        return "nowhere"
    try:
        target = str(response.url.join(where))
    except (httpx.InvalidURL, ValueError):
        return "a Location that is not a URL"
    return display_url(target)  # httpx percent-encodes what is not ASCII


def _parse(response: httpx.Response, url: str, attempt: int) -> dict[str, Any]:
    def bad(what: str) -> DiscoveryError:
        return DiscoveryError(
            f"the document {what}", url=url, status=response.status_code, attempts=attempt
        )

    try:
        data = load_json(response.content)
    except TooDeep:
        raise bad(f"nests JSON deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:
        kind = shown_header(response, "Content-Type", "no Content-Type")
        raise bad(f"is not JSON ({kind})") from None
    if not isinstance(data, dict):
        raise bad("is not a JSON object")
    return data


# --- what the document says ----------------------------------------------------------


def _api_base(data: dict[str, Any], discovery: DiscoverySettings) -> str:
    endpoint = _field(data, discovery.api_field, discovery, _API_FIELD_VAR, "API host")
    parsed = _check_endpoint(endpoint, discovery, discovery.api_field, query_allowed=False)
    base = str(parsed).rstrip("/")
    suffix = discovery.api_path
    if suffix and not parsed.path.rstrip("/").endswith(suffix):
        base += suffix
    return base


def _token_url(data: dict[str, Any], discovery: DiscoverySettings, explicit: str) -> str:
    if explicit:
        named = data.get(discovery.token_field)
        if isinstance(named, str) and named != explicit:
            log.debug(
                "CXONE_TOKEN_URL (or tokenUrl) is set, so it is used, not the discovery "
                "document's %s (%s)",
                discovery.token_field,
                display_url(named),
            )
        return explicit
    hint = (
        f"set CXONE_TOKEN_URL to the tenant's token endpoint (real CXone publishes it as "
        f"token_endpoint in /.well-known/openid-configuration), or {_TOKEN_FIELD_VAR} to the "
        "field of this document that holds it"
    )
    endpoint = _field(data, discovery.token_field, discovery, _TOKEN_FIELD_VAR, "token URL", hint)
    return str(_check_endpoint(endpoint, discovery, discovery.token_field, query_allowed=True))


def _field(
    data: dict[str, Any],
    name: str,
    discovery: DiscoverySettings,
    variable: str,
    what: str,
    hint: str | None = None,
) -> str:
    value = data.get(name)
    if isinstance(value, str) and value.strip():
        return value.strip()
    if name in data:
        problem = f"the document's `{name}` field is not a URL string"
    else:
        present = [shorten(str(key), 40) for key in list(data)[:_LISTED_FIELDS]]
        more = ", …" if len(data) > _LISTED_FIELDS else ""
        fields = f"its fields: {', '.join(present)}{more}" if present else "it has none"
        problem = f"the document has no `{name}` field for the {what}; {fields}"
    raise DiscoveryError(
        problem,
        url=discovery.url,
        hint=hint
        or (
            f"set {variable} to the field of this document that holds the {what}, or check "
            f"{_URL_VAR}"
        ),
    )


def _check_endpoint(
    value: str, discovery: DiscoverySettings, field: str, *, query_allowed: bool
) -> httpx.URL:
    def refuse(problem: str, hint: str = ENDPOINT_HINT) -> DiscoveryError:
        return DiscoveryError(f"the document's `{field}` {problem}", url=discovery.url, hint=hint)

    try:
        parsed = httpx.URL(value)
    except httpx.InvalidURL:
        raise refuse("is not a valid URL", URL_HINT) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise refuse(f"is not a full http(s) URL: {shorten(value, 80)!r}", URL_HINT)
    if parsed.userinfo:
        raise refuse(
            "carries user info (a name or password in the URL)",
            f"cxrecon sends its own credentials, never ones a document names; fix {_URL_VAR}, "
            "or set CXONE_BASE_URL and CXONE_TOKEN_URL instead",
        )
    if not query_allowed and (parsed.query or parsed.fragment):
        raise refuse("has a query or fragment, so no API path can follow it", URL_HINT)
    if parsed.fragment:
        raise refuse("has a fragment", URL_HINT)
    host = parsed.host.lower()
    shown = f"{parsed.scheme}://{host_of(str(parsed))}"
    local_source = is_loopback(httpx.URL(discovery.url).host)
    if parsed.scheme == "http" and not (is_loopback(host) and local_source):
        raise refuse(f"uses plain http for {shown}")
    if is_loopback(host) and not local_source:
        raise refuse(f"names this machine ({shown}) though the document came from another host")
    if discovery.allowed_hosts and not any(
        fnmatchcase(host, pattern) for pattern in discovery.allowed_hosts
    ):
        raise refuse(
            f"names {host}, which is not in {_HOSTS_VAR} ({' '.join(discovery.allowed_hosts)})",
            f"if {host} is your tenant's, add it (or a pattern such as *.example.com) to "
            f"{_HOSTS_VAR}; otherwise check {_URL_VAR}",
        )
    return parsed
