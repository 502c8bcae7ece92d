"""Reading the whole connector list page by page: the first page gives totalRecords and the
rest come concurrently (or, without a total, page after page until a short one); a listing
that shifts underneath (totals change, ids repeat or go missing) is read again.

A listing is bounded whatever the server sends: at most `ListingBounds.max_connectors`
connectors (a larger totalRecords is refused on the first page) and at most
`ListingBounds.max_bytes` of memory: each page's decoded bytes are counted as they arrive
(pages read at once count together; one page may take a sixteenth at most), then replaced
by what its connectors hold once read (`held_bytes`: up to 3.5 times the JSON they came
from, for many small mappings). A server that never stops (pages that never shrink, skip
ignored, a total that lies) ends in one `ListingTooLarge` naming the setting to raise, long
before memory runs out: the 256 MiB default keeps `cxrecon plan` under 600 MB.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from sys import getsizeof
from typing import Any, Final

import httpx

from reconciler.cxone.bounded import SharedCap, describe_size
from reconciler.cxone.errors import CxoneApiError, InconsistentListing, ListingTooLarge
from reconciler.cxone.parse import Origin, connector_of, object_of
from reconciler.model import RemoteConnector

#: How often a listing is re-read when the tenant changed while its pages were fetched.
LISTING_ATTEMPTS: Final = 3
_OPERATION: Final = "list_connectors"


#: One page may take at most this share of the listing's bytes: parsing a page briefly
#: holds ~4.5 times its size in JSON objects, which must fit beside what is already held.
PAGE_SHARE: Final = 16
#: What CPython's intern table spends per distinct string (model.shared_mapping interns
#: every mapping's fields), which sys.getsizeof does not see.
_INTERN_ENTRY: Final = 40


@dataclass(frozen=True)
class Page:
    items: tuple[RemoteConnector, ...]
    total: int | None
    #: The page's decoded size, as charged while it arrived.
    size: int = 0


@dataclass(frozen=True)
class ListingBounds:
    """What one reading of the listing may hold, and the settings that raise each bound."""

    max_connectors: int
    max_bytes: int
    connectors_setting: str = "CXONE_MAX_CONNECTORS"
    bytes_setting: str = "CXONE_MAX_LISTING_BYTES"


#: A server answering every `skip` with the first page: nothing changed in the tenant.
IGNORED_SKIP_HINT: Final = (
    "check that CXONE_BASE_URL leads to the CXone API itself: a proxy or gateway in between "
    "may drop the query string (skip, top)"
)

#: Reads the page that starts at `skip`, its body charged to the shared cap.
PageReader = Callable[[int, SharedCap], Coroutine[Any, Any, Page]]


def page_of(response: httpx.Response, origin: Origin, top: int) -> Page:
    """One page of the listing: at most `top` connectors and totalRecords when given."""
    data = object_of(response, origin)
    items = data.get("items")
    if not isinstance(items, list):
        raise origin.malformed("the page has no items array")
    if len(items) > top:
        raise origin.malformed(f"the page has {len(items)} items, more than top={top}")
    total = data.get("totalRecords")
    if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total < 0):
        raise origin.malformed("totalRecords is not a count")
    connectors = tuple(connector_of(item, origin) for item in items)
    return Page(items=connectors, total=total, size=len(response.content))


def held_bytes(connector: RemoteConnector, seen: set[int] | None = None) -> int:
    """About what `connector` holds in memory: sys.getsizeof of its parts, within ~15 % of
    tracemalloc's figure. A mapping whose object is in `seen` (ids; model.shared_mapping
    hands equal mappings out as one object) is counted once; `seen` gets this one's."""
    spec = connector.spec
    auth = spec.authentication
    size = getsizeof(connector) + getsizeof(spec) + getsizeof(auth) + getsizeof(spec.mappings)
    for text in (
        connector.id,
        connector.etag,
        connector.created_time,
        connector.last_modified_time,
        spec.name,
        spec.connector_type,
        spec.endpoint_url,
        spec.lifecycle_status,
        spec.description,
        spec.version,
        auth.type,
    ):
        size += getsizeof(text)
    for mapping in (spec.labels, auth.credentials):
        size += getsizeof(mapping) + sum(getsizeof(k) + getsizeof(v) for k, v in mapping.items())
    if spec.sync_settings is not None:
        size += getsizeof(spec.sync_settings)
    seen = set() if seen is None else seen
    for m in spec.mappings:
        if id(m) in seen:
            continue
        seen.add(id(m))
        size += getsizeof(m) + getsizeof(m.cxone_field) + getsizeof(m.crm_field)
        size += getsizeof(m.transformation) + 3 * _INTERN_ENTRY
    return size


async def list_all(
    read_page: PageReader, *, path: str, page_size: int, bounds: ListingBounds, host: str = ""
) -> list[RemoteConnector]:
    """Every connector. After `LISTING_ATTEMPTS` readings that kept changing it raises
    InconsistentListing rather than hand an incomplete picture to the planner; a reading
    past `bounds` raises ListingTooLarge at once (a re-read would only pass it again)."""
    reason = ""
    for _ in range(LISTING_ATTEMPTS):
        reading = _Reading(read_page, path, page_size, bounds, host)
        listed, reason = await reading.run()
        if listed is not None:
            return listed
    raise InconsistentListing(
        f"the connector list kept changing while it was read ({reason})",
        operation=_OPERATION,
        method="GET",
        path=path,
        attempts=LISTING_ATTEMPTS,
        host=host,
    )


class _Shifted(Exception):
    """The listing changed while it was read (a repeated id, another total): read again."""


class _Reading:
    """One reading of the whole listing, within its bounds. Each page is checked as it
    arrives, so a server repeating pages is caught on the second one, not after all."""

    def __init__(
        self, read_page: PageReader, path: str, top: int, bounds: ListingBounds, host: str
    ) -> None:
        self._read_page = read_page
        self._path = path
        self._top = top
        self._bounds = bounds
        self._host = host
        self._total: int | None = None  # the first page's totalRecords
        self._first: tuple[str, ...] = ()  # the first page's ids, in order
        self._ids: set[str] = set()  # ids of the connectors read so far
        self._mappings: set[int] = set()  # ids of the mapping objects counted so far
        self._cap = SharedCap(
            bounds.max_bytes, self._too_many_bytes, per_answer=bounds.max_bytes // PAGE_SHARE
        )

    async def _page(self, skip: int) -> Page:
        page = await self._read_page(skip, self._cap)
        ids = tuple(item.id for item in page.items)
        if not skip:
            self._first = ids
        elif ids and ids == self._first:
            # Not a change in the tenant (reading again would find the same): the server,
            # or something in between, answers every page as if asked for the first.
            raise InconsistentListing(
                f"the page at skip={skip} holds the first page's connectors again: the "
                "server ignores `skip`, so the listing cannot be read page by page",
                operation=_OPERATION,
                method="GET",
                path=self._path,
                host=self._host,
                hint=IGNORED_SKIP_HINT,
            )
        if skip and page.total != self._total:
            raise _Shifted("totalRecords changed between pages")
        for item in page.items:
            if item.id in self._ids:
                raise _Shifted(f"connector {item.id} appeared twice")
            self._ids.add(item.id)
        # From here on the page's connectors are what it holds, not its JSON.
        self._cap.refund(page.size)
        self._cap.charge(sum(held_bytes(item, self._mappings) for item in page.items))
        return page

    async def run(self) -> tuple[list[RemoteConnector] | None, str]:
        first = await self._page(0)
        total = self._total = first.total
        if total is None:
            return await self._walk(first), ""
        if total > self._bounds.max_connectors:
            raise self._too_large(
                f"the tenant lists {total} connectors (totalRecords), more than "
                f"{self._bounds.connectors_setting}={self._bounds.max_connectors}"
            )
        top = self._top
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._page(s)) for s in range(top, total, top)]
        except ExceptionGroup as failed:
            # The first page to fail stopped the others: its error is the listing's.
            shifted = failed.subgroup(_Shifted)
            if shifted is not None and len(shifted.exceptions) == len(failed.exceptions):
                return None, str(shifted.exceptions[0])
            raise _first_api_error(failed) from None
        pages = [first, *(t.result() for t in tasks)]
        for index, page in enumerate(pages):
            expected = min(top, total - index * top)
            if len(page.items) != expected:
                return None, f"page at skip={index * top} had {len(page.items)} of {expected}"
        return [item for page in pages for item in page.items], ""

    async def _walk(self, first: Page) -> list[RemoteConnector]:
        """Without totalRecords: read page after page until a short one."""
        pages = [first]
        while len(pages[-1].items) == self._top:
            try:
                page = await self._page(len(pages) * self._top)
            except _Shifted as shifted:
                raise InconsistentListing(
                    f"the connector list changed while it was read ({shifted})",
                    operation=_OPERATION,
                    method="GET",
                    path=self._path,
                    host=self._host,
                ) from None
            pages.append(page)
            if len(self._ids) > self._bounds.max_connectors:
                raise self._too_large(
                    f"the listing went on past {self._bounds.connectors_setting}="
                    f"{self._bounds.max_connectors} connectors (its pages never got shorter)"
                )
        return [item for page in pages for item in page.items]

    def _too_many_bytes(self, one_page: bool) -> ListingTooLarge:
        setting, limit = self._bounds.bytes_setting, self._bounds.max_bytes
        if one_page:
            return self._too_large(
                f"a page of the listing passed {describe_size(limit // PAGE_SHARE)}, the "
                f"most one page may take of {setting}={describe_size(limit)}"
            )
        return self._too_large(
            f"the listing passed {setting}={describe_size(limit)} after {len(self._ids)} connectors"
        )

    def _too_large(self, summary: str) -> ListingTooLarge:
        return ListingTooLarge(
            f"{summary}, so cxrecon stopped reading it",
            operation=_OPERATION,
            method="GET",
            path=self._path,
            host=self._host,
        )


def _first_api_error(failed: ExceptionGroup[Exception]) -> Exception:
    """The first CxoneApiError in `failed` (groups inside it included); `failed` itself when
    there is none (a bug, which keeps its traceback)."""
    for error in failed.exceptions:
        if isinstance(error, ExceptionGroup):
            inner = _first_api_error(error)
            if inner is not error:
                return inner
        elif isinstance(error, CxoneApiError):
            return error
    return failed
