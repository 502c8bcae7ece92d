"""`CxoneClient`: the CRM-connector endpoints of the CXone API, as value objects.

One instance per run (`async with CxoneClient(settings) as client:`); it owns the HTTP
connection pool, the token, the shared pacer and the request statistics. Every answer is
read within `ResponseLimits` (reconciler.cxone.bounded), and importing this module masks
credentials in the HTTP stack's own DEBUG logs (reconciler.cxone.logmask).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

import httpx

from reconciler import __version__
from reconciler.config.settings import ConnectionSettings
from reconciler.cxone.auth import TokenProvider
from reconciler.cxone.bounded import (
    ACCEPT_ENCODING,
    DEFAULT_DEADLINE,
    ResponseLimits,
    SharedCap,
)
from reconciler.cxone.connection import require_secure_url, tls_verify
from reconciler.cxone.discovery import DISCOVERED_BASE_URL_HINT, discover
from reconciler.cxone.errors import (
    BASE_URL_HINT,
    Conflict,
    CxoneApiError,
    WeakETag,
    host_of,
    shorten,
)
from reconciler.cxone.listing import ListingBounds, Page, list_all, page_of
from reconciler.cxone.logmask import install_log_masking
from reconciler.cxone.pacing import AdaptivePacer
from reconciler.cxone.parse import (
    ETAG_UNKNOWN,
    Origin,
    check_id,
    connector_answer,
    is_weak_etag,
    object_of,
    one_connector,
    sync_job_of,
)
from reconciler.cxone.retry import Replay, RetryPolicy
from reconciler.cxone.session import Request, Session
from reconciler.cxone.stats import ApiStats
from reconciler.errors import ConfigError
from reconciler.model import SYNC_TYPES, RemoteConnector, SyncJob

log = logging.getLogger(__name__)

_MAX_KEY_LENGTH: Final = 255

# httpcore logs response headers verbatim at DEBUG: a server echoing our Authorization
# header would otherwise put the token in a log.
install_log_masking()


@dataclass(frozen=True)
class ApiPaths:
    """Where the endpoints live under the base URL, so cxrecon can follow the real surface."""

    connectors: str = "/crm/connectors"
    page_size: int = 100  # `top`; the API's maximum


def _sent_secrets(body: Mapping[str, Any]) -> tuple[str, ...]:
    auth = body.get("authentication")
    creds = auth.get("credentials") if isinstance(auth, Mapping) else None
    if not isinstance(creds, Mapping):
        return ()
    return tuple(v for v in creds.values() if isinstance(v, str))


class CxoneClient:
    """Async client for one run. Every method returns value objects from reconciler.model."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        parallelism: int = 8,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        stats: ApiStats | None = None,
        pacer: AdaptivePacer | None = None,
        paths: ApiPaths | None = None,
        response_limits: ResponseLimits | None = None,
    ) -> None:
        if parallelism < 1:
            raise ConfigError(f"--parallelism must be at least 1, got {parallelism}")
        if settings.discovery is not None and settings.needs_discovery:
            # The endpoints come from the discovery document when the client opens.
            require_secure_url(settings.discovery.url, "CXONE_DISCOVERY_URL")
        else:
            require_secure_url(settings.base_url, "CXONE_BASE_URL")
        if settings.token_url or not settings.needs_discovery:
            require_secure_url(settings.token_url, "CXONE_TOKEN_URL")
        self.settings = settings
        self.parallelism = parallelism
        self.retry = retry or RetryPolicy()
        self.stats = stats or ApiStats()
        self.pacer = pacer or AdaptivePacer(parallelism)
        self.paths = paths or ApiPaths()
        #: The byte cap (decoded) and total deadline every answer is read within. The
        #: default deadline is never shorter than two reads at CXONE_TIMEOUT, so raising
        #: the per-read timeout for a slow tenant does not make whole answers fail sooner.
        self.response_limits = response_limits or ResponseLimits(
            deadline=max(DEFAULT_DEADLINE, 2 * settings.timeout)
        )
        self._transport = transport
        self._verify = tls_verify(settings)
        self._http: httpx.AsyncClient | None = None
        self._session: Session | None = None

    def __repr__(self) -> str:
        return f"CxoneClient(base_url={self.settings.base_url!r}, parallelism={self.parallelism})"

    async def __aenter__(self) -> CxoneClient:
        # One more connection than workers, so a token refresh never waits for the pool.
        pool = self.parallelism + 1
        self._http = httpx.AsyncClient(
            transport=self._transport,
            verify=self._verify,
            timeout=httpx.Timeout(self.settings.timeout),
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
            # Only what `receive` inflates itself, in bounded steps.
            headers={"User-Agent": f"cxrecon/{__version__}", "Accept-Encoding": ACCEPT_ENCODING},
            follow_redirects=False,
            trust_env=True,
        )
        install_log_masking()  # again: picks up httpx/httpcore loggers created since import
        limits = self.response_limits
        if self.settings.needs_discovery:
            # Read once per client (so once per run): the resolved settings replace these.
            try:
                self.settings = await discover(
                    self.settings, self._http, retry=self.retry, stats=self.stats, limits=limits
                )
            except BaseException:
                await self._http.aclose()
                self._http = None
                raise
        auth = TokenProvider(
            self.settings, self._http, retry=self.retry, stats=self.stats, limits=limits
        )
        self._session = Session(
            self.settings.base_url,
            self._http,
            auth,
            self.pacer,
            self.retry,
            self.stats,
            limits=limits,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._http is not None:
            await self._http.aclose()
        self._http = self._session = None

    @property
    def _s(self) -> Session:
        if self._session is None:
            raise RuntimeError("use CxoneClient inside `async with`")
        return self._session

    def _connector_path(self, connector_id: str, operation: str, *rest: str) -> str:
        base = self.paths.connectors
        origin = Origin(operation, "", f"{base}/{{id}}")
        segments = [check_id(connector_id, what="connector id", origin=origin), *rest]
        return "/".join([base, *segments])

    # --- reads ---------------------------------------------------------------

    async def list_connectors(self) -> list[RemoteConnector]:
        """Every connector (reconciler.cxone.listing.list_all), within the settings'
        CXONE_MAX_CONNECTORS and CXONE_MAX_LISTING_BYTES."""
        paths = self.paths
        bounds = ListingBounds(
            max_connectors=self.settings.max_connectors,
            max_bytes=self.settings.max_listing_bytes,
        )
        return await list_all(
            lambda skip, cap: self._page("list_connectors", skip, cap=cap),
            path=paths.connectors,
            page_size=paths.page_size,
            bounds=bounds,
            host=host_of(self.settings.base_url),
        )

    async def _page(
        self, operation: str, skip: int, name: str | None = None, cap: SharedCap | None = None
    ) -> Page:
        top = self.paths.page_size
        params: dict[str, str | int] = {"skip": skip, "top": top}
        if name is not None:
            params["name"] = name
        request = Request(
            operation,
            "GET",
            self.paths.connectors,
            Replay.SAFE,
            params=params,
            not_found_hint=DISCOVERED_BASE_URL_HINT if self.settings.discovery else BASE_URL_HINT,
            shared_cap=cap,
        )
        return await self._s.call(request, lambda response, origin: page_of(response, origin, top))

    async def get_connector(self, connector_id: str) -> RemoteConnector:
        path = self._connector_path(connector_id, "get_connector")
        request = Request("get_connector", "GET", path, Replay.SAFE)
        return await self._s.call(request, one_connector(connector_id))

    async def find_by_name(self, name: str) -> list[RemoteConnector]:
        """Connectors named exactly `name` (?name= filter; the full list if it is ignored)."""
        page = await self._page("find_by_name", 0, name=name)
        honoured = all(c.name == name for c in page.items)
        complete = len(page.items) < self.paths.page_size and (
            page.total is None or page.total == len(page.items)
        )
        if honoured and complete:
            return list(page.items)
        return [c for c in await self.list_connectors() if c.name == name]

    # --- writes --------------------------------------------------------------

    async def create_connector(
        self, body: Mapping[str, Any], *, idempotency_key: str
    ) -> RemoteConnector:
        """POST a new connector. Replays carry the same Idempotency-Key and happen only
        after a lookup by name shows the lost attempt did not create it (else that one is
        returned): a retry never makes a duplicate."""
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("create_connector needs a body with a non-empty name")
        key = idempotency_key
        if not key or len(key) > _MAX_KEY_LENGTH or not (key.isascii() and key.isprintable()):
            raise ValueError("idempotency_key must be 1-255 printable ASCII characters")
        request = Request(
            "create_connector",
            "POST",
            self.paths.connectors,
            Replay.KEYED,
            body=body,
            headers={"Idempotency-Key": key},
            secrets=_sent_secrets(body),
        )

        async def recover() -> RemoteConnector | None:
            found = await self.find_by_name(name)
            if len(found) > 1:
                raise Conflict(
                    f"{len(found)} connectors named {name!r} exist after a lost create",
                    operation="create_connector",
                    method="POST",
                    path=self.paths.connectors,
                    hint="remove the extra ones by hand; cxrecon will not create another",
                )
            if not found:
                return None
            if not _made_by(found[0], body):
                # Someone else created this name meanwhile (the CXone UI): never taken as
                # ours. The caller re-reads and plans it again, recording what they set.
                raise Conflict(
                    f"a connector named {name!r} was created in CXone meanwhile (id "
                    f"{found[0].id}), not by this request",
                    operation="create_connector",
                    method="POST",
                    path=self.paths.connectors,
                    hint="run `cxrecon plan` to see it (it is planned as adopt), then apply",
                )
            return found[0]

        def parse(response: httpx.Response, origin: Origin) -> RemoteConnector:
            created = connector_answer(response, origin, etag_required=False)
            if created.name != name:
                raise origin.malformed(f"asked to create {name!r}, got {created.name!r}")
            return created

        return await self._versioned(await self._s.call(request, parse, recover=recover))

    async def patch_connector(
        self, connector_id: str, *, etag: str, body: Mapping[str, Any]
    ) -> RemoteConnector:
        """JSON merge-patch guarded by If-Match: a replay of a landed write gets 412, which
        surfaces as Conflict so the caller re-reads. Never sent without an ETag."""
        refused = self.refusal(connector_id, etag=etag)
        if refused is not None:
            raise refused
        if not etag.strip() or not (etag.isascii() and etag.isprintable()):
            raise ValueError("patch_connector needs the connector's ETag for If-Match")
        request = Request(
            "patch_connector",
            "PATCH",
            self._connector_path(connector_id, "patch_connector"),
            Replay.CONDITIONAL,
            body=body,
            content_type="application/merge-patch+json",
            headers={"If-Match": etag},
            secrets=_sent_secrets(body),
        )
        parse = one_connector(connector_id, etag_required=False)
        return await self._versioned(await self._s.call(request, parse))

    def refusal(self, connector_id: str, *, etag: str) -> CxoneApiError | None:
        """Why a PATCH conditioned on `etag` would be refused before anything is sent (a
        weak ETag, or one not read back after a write), or None. The write-ahead log asks
        first: a write that is never sent gets no intent (docs/audit.md)."""
        path = self._connector_path(connector_id, "patch_connector")
        if is_weak_etag(etag):
            return WeakETag(
                f"the connector's ETag is weak ({shorten(etag, 40)}), and an If-Match "
                "header compares ETags strongly (RFC 9110), so the server would refuse "
                "every attempt; nothing was sent",
                operation="patch_connector",
                method="PATCH",
                path=path,
                host=host_of(self.settings.base_url),
            )
        if etag == ETAG_UNKNOWN:
            return Conflict(
                "the connector changed again right after cxrecon's last write, before its "
                "ETag could be read back; nothing was sent",
                operation="patch_connector",
                method="PATCH",
                path=path,
                host=host_of(self.settings.base_url),
            )
        return None

    async def _versioned(self, written: RemoteConnector) -> RemoteConnector:
        """`written` (a write's answer) with an ETag. An answer without one (a proxy may drop
        it) is read back: the write landed and is never taken for a failure. The read-back
        ETag is used only when the connector reads as the write left it; otherwise (changed
        again meanwhile, or unreadable) the ETag stays unknown, and the next conditional
        write is refused as a conflict instead of passing over another writer's change."""
        if written.etag != ETAG_UNKNOWN:
            return written
        try:
            fresh = await self.get_connector(written.id)
        except CxoneApiError as exc:
            log.warning("connector %s: written, but not read back (%s)", written.id, exc.summary)
            return written
        if fresh.spec == written.spec:
            return fresh
        log.warning("connector %s: written, then changed again before it was read back", written.id)
        return written

    async def start_sync(self, connector_id: str, sync_type: str = "FULL") -> str:
        """Trigger a CRM data sync (202 → syncId). Not replayed once it may have landed."""
        if sync_type not in SYNC_TYPES:
            raise ValueError(f"sync_type must be one of {', '.join(SYNC_TYPES)}")
        path = self._connector_path(connector_id, "start_sync", "sync")
        request = Request("start_sync", "POST", path, Replay.ONCE, body={"syncType": sync_type})

        def parse(response: httpx.Response, origin: Origin) -> str:
            data = object_of(response, origin)
            return check_id(data.get("syncId"), what="syncId", origin=origin)

        return await self._s.call(request, parse)

    async def get_sync(self, connector_id: str, sync_id: str) -> SyncJob:
        origin = Origin("get_sync", "GET", f"{self.paths.connectors}/{{id}}/sync/{{syncId}}")
        sync_id = check_id(sync_id, what="syncId", origin=origin)
        path = self._connector_path(connector_id, "get_sync", "sync", sync_id)

        def parse(response: httpx.Response, origin: Origin) -> SyncJob:
            job = sync_job_of(object_of(response, origin), origin, connector_id)
            if job.sync_id != sync_id:
                raise origin.malformed(f"asked for sync {sync_id}, got {job.sync_id}")
            return job

        return await self._s.call(Request("get_sync", "GET", path, Replay.SAFE), parse)


def _made_by(found: RemoteConnector, body: Mapping[str, Any]) -> bool:
    """Whether `found` is what the create `body` made: it carries every label the body set
    (cxrecon's bookkeeping labels, the credentials fingerprint among them)."""
    labels = body.get("labels")
    if not isinstance(labels, Mapping) or not labels:
        return True  # nothing to tell them apart by: the name decides, as it always has
    return all(found.spec.labels.get(key) == value for key, value in labels.items())
