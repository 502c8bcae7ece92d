"""Reading the whole connector list page by page: the first page gives totalRecords and the
rest come concurrently (or, without a total, page after page until a short one); a listing
that shifts underneath (totals change, ids repeat or go missing) is read again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final

import httpx

from reconciler.cxone.errors import InconsistentListing
from reconciler.cxone.parse import Origin, connector_of, object_of
from reconciler.model import RemoteConnector

#: How often a listing is re-read when the tenant changed while its pages were fetched.
LISTING_ATTEMPTS: Final = 3


@dataclass(frozen=True)
class Page:
    items: tuple[RemoteConnector, ...]
    total: int | None


#: Reads the page that starts at `skip`.
PageReader = Callable[[int], Coroutine[Any, Any, Page]]


def page_of(response: httpx.Response, origin: Origin, top: int, max_records: int) -> Page:
    """One page of the listing: at most `top` connectors and totalRecords when given."""
    data = object_of(response, origin)
    items = data.get("items")
    if not isinstance(items, list):
        raise origin.malformed("the page has no items array")
    if len(items) > top:
        raise origin.malformed(f"the page has {len(items)} items, more than top={top}")
    total = data.get("totalRecords")
    if total is not None and (
        isinstance(total, bool) or not isinstance(total, int) or not 0 <= total <= max_records
    ):
        raise origin.malformed(f"totalRecords is not a count up to {max_records}")
    connectors = tuple(connector_of(item, origin) for item in items)
    return Page(items=connectors, total=total)


async def list_all(
    read_page: PageReader, *, path: str, page_size: int, max_records: int
) -> list[RemoteConnector]:
    """Every connector. After `LISTING_ATTEMPTS` readings that kept changing it raises
    InconsistentListing rather than hand an incomplete picture to the planner."""
    reason = ""
    for _ in range(LISTING_ATTEMPTS):
        listed, reason = await _list_once(read_page, path, page_size, max_records)
        if listed is not None:
            return listed
    raise InconsistentListing(
        f"the connector list kept changing while it was read ({reason})",
        operation="list_connectors",
        method="GET",
        path=path,
        attempts=LISTING_ATTEMPTS,
    )


async def _list_once(
    read_page: PageReader, path: str, top: int, max_records: int
) -> tuple[list[RemoteConnector] | None, str]:
    first = await read_page(0)
    if first.total is None:
        return await _walk(read_page, first, path, top, max_records), ""
    skips = range(top, first.total, top)
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(read_page(s)) for s in skips]
    pages = [first, *(t.result() for t in tasks)]
    if any(p.total != first.total for p in pages):
        return None, "totalRecords changed between pages"
    for index, page in enumerate(pages):
        expected = min(top, first.total - index * top)
        if len(page.items) != expected:
            return None, f"page at skip={index * top} had {len(page.items)} of {expected}"
    return _unique(pages)


async def _walk(
    read_page: PageReader, first: Page, path: str, top: int, max_records: int
) -> list[RemoteConnector]:
    """Without totalRecords: read page after page until a short one."""
    pages = [first]
    while len(pages[-1].items) == top:
        skip = len(pages) * top
        if skip >= max_records:
            break
        pages.append(await read_page(skip))
    listed, reason = _unique(pages)
    if listed is None:
        raise InconsistentListing(
            f"the connector list changed while it was read ({reason})",
            operation="list_connectors",
            method="GET",
            path=path,
        )
    return listed


def _unique(pages: list[Page]) -> tuple[list[RemoteConnector] | None, str]:
    seen: dict[str, RemoteConnector] = {}
    for page in pages:
        for item in page.items:
            if item.id in seen:
                return None, f"connector {item.id} appeared twice"
            seen[item.id] = item
    return list(seen.values()), ""
