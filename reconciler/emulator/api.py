"""The `/api/v2/crm/connectors` routes: list, get, create, merge-patch.

Every write is one `BEGIN IMMEDIATE` transaction: the ETag check, the change and (for POST)
the Idempotency-Key record commit together or not at all.
"""

from __future__ import annotations

import re
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from reconciler.emulator.auth import Principal
from reconciler.emulator.gateway import PRINCIPAL_KEY
from reconciler.emulator.problem import JSON, ApiProblem, Detail, bad_request, not_found
from reconciler.emulator.request_checks import (
    check_content_type,
    check_idempotency_key,
    paging,
    parse_json_object,
)
from reconciler.emulator.resource import (
    build_row,
    digest_credentials,
    fingerprint,
    iso,
    load_document,
    new_connector_id,
)
from reconciler.emulator.runtime import Runtime
from reconciler.emulator.store import NameTaken, StoredResponse, Tx
from reconciler.emulator.validation import (
    NAME_MAX,
    check_document,
    check_patch_keys,
    check_read_only,
    credential_mismatches,
    with_defaults,
)
from reconciler.model import ALLOWED_TRANSITIONS, merge_patch

CONNECTORS: Final = "/api/v2/crm/connectors"


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def principal_of(request: Request) -> Principal:
    principal: Principal = request.scope[PRINCIPAL_KEY]
    return principal


async def read_body(request: Request, max_bytes: int) -> dict[str, Any]:
    """The JSON object body; the gateway has already stopped it at `max_bytes` (413)."""
    return parse_json_object(await request.body(), max_bytes)


def json_response(body: bytes | str, status: int = 200, etag: str | None = None) -> Response:
    headers = {"ETag": etag} if etag else None
    return Response(body, status, headers=headers, media_type=JSON)


def name_conflict(name: str) -> ApiProblem:
    return ApiProblem(
        409,
        "name_conflict",
        f"a connector named {name!r} already exists; choose another name or update that one",
        (Detail("/name", "must be unique"),),
    )


# --- reads ------------------------------------------------------------------


async def list_connectors(request: Request) -> Response:
    query = request.query_params
    skip, top = paging(query)
    name = query.get("name")
    if name is not None and not 0 < len(name) <= NAME_MAX:
        raise bad_request(
            "query parameter name must be 1 to 200 characters", error="invalid_parameter"
        )
    items, total = runtime_of(request).store.read().public_page(skip, top, name)
    next_link = "null"
    if skip + len(items) < total:
        params = {"skip": str(skip + top), "top": str(top)}
        if name is not None:
            params["name"] = name
        next_link = '"' + str(request.url.replace_query_params(**params)) + '"'
    body = (
        '{"items":['
        + ",".join(items)
        + f'],"totalRecords":{total},"_links":{{"self":"{request.url}","next":{next_link}}}}}'
    )
    return json_response(body)


async def get_connector(request: Request) -> Response:
    found = runtime_of(request).store.read().public_connector(request.path_params["id"])
    if found is None:
        raise not_found(f"connector {request.path_params['id']}")
    etag, public = found
    if_none_match = request.headers.get("if-none-match")
    # A malformed If-None-Match matches nothing: the client gets the full answer.
    tags = entity_tags(if_none_match) if if_none_match is not None else None
    if tags is not None and etag_matches_weakly(tags, etag):
        return Response(status_code=304, headers={"ETag": etag})
    return json_response(public, etag=etag)


#: One element of an entity-tag list (RFC 9110 8.8.3 and 5.6.1): optional whitespace, an
#: optional `W/"…"` or `"…"` tag (empty list elements are allowed), optional whitespace, then
#: a comma or the end. A comma may appear inside the quotes.
_LIST_ELEMENT = re.compile(r'[ \t]*((?:W/)?"[\x21\x23-\x7e\x80-\xff]*")?[ \t]*(?:,|$)')


def entity_tags(header: str) -> list[str] | None:
    """`*` → ["*"]; a comma-separated list of entity tags → the tags; None when malformed."""
    if header.strip(" \t") == "*":
        return ["*"]
    tags: list[str] = []
    pos = 0
    while pos < len(header):
        match = _LIST_ELEMENT.match(header, pos)
        if match is None or match.end() == pos:
            return None
        if match.group(1):
            tags.append(match.group(1))
        pos = match.end()
    return tags or None


def etag_matches(tags: list[str], etag: str) -> bool:
    """Strong comparison (RFC 9110 8.8.3.2), for If-Match: `*` or the same non-weak tag."""
    return "*" in tags or etag in tags


def etag_matches_weakly(tags: list[str], etag: str) -> bool:
    """Weak comparison, for If-None-Match (RFC 9110 13.1.2): `W/` prefixes are ignored."""
    opaque = etag.removeprefix("W/")
    return "*" in tags or any(tag.removeprefix("W/") == opaque for tag in tags)


def parse_if_match(header: str) -> list[str]:
    """The If-Match tags, or a 400 that says what an entity tag looks like."""
    tags = entity_tags(header)
    if tags is None:
        raise ApiProblem(
            400,
            "invalid_if_match",
            f'If-Match {header} is not an entity tag: ETags are quoted, e.g. "3f7c…" (or '
            'W/"3f7c…"). Send the ETag header of your last GET of this connector exactly as '
            "it came, quotes included, or * to skip the check; a version such as 1.0.0 is "
            "not an ETag",
            (Detail("If-Match", "is not an entity tag"),),
        )
    return tags


# --- writes -----------------------------------------------------------------


async def create_connector(request: Request) -> Response:
    runtime = runtime_of(request)
    check_content_type(request.headers.get("content-type"), ("application/json",))
    body = await read_body(request, runtime.config.max_body_bytes)
    key = request.headers.get("idempotency-key")
    if key is not None:
        check_idempotency_key(key)
    check_read_only(body)
    check_document(body)
    status = body.get("lifecycleStatus", "DRAFT")
    if status != "DRAFT":
        raise ApiProblem(
            400,
            "invalid_lifecycle",
            f"connectors are created as DRAFT, not {status}; create it, then PATCH lifecycleStatus",
            (Detail("/lifecycleStatus", "must be DRAFT on create"),),
        )
    client = principal_of(request).client_id
    request_fp = fingerprint("POST", request.url.path, body)
    now = runtime.clock.now()

    def create(tx: Tx) -> StoredResponse:
        connector_id = new_connector_id()
        doc = digest_credentials(
            connector_id, with_defaults(body), body["authentication"].get("credentials")
        )
        row = build_row(connector_id, doc, 1, iso(now), iso(now))
        try:
            tx.insert_connector(row)
        except NameTaken:
            raise name_conflict(row.name) from None
        location = f"{request.base_url}{CONNECTORS.lstrip('/')}/{connector_id}"
        headers = (("ETag", row.etag), ("Location", location))
        return StoredResponse(request_fp, 201, row.public.encode(), headers)

    stored = idempotent(runtime, client, key, request_fp, create)
    return replay(stored)


def idempotent(
    runtime: Runtime,
    client: str,
    key: str | None,
    request_fp: str,
    action: Any,
) -> StoredResponse:
    """Run `action` in a write transaction, or replay what the same key answered before.

    Only successful answers are kept: a request that failed may be retried with its key.
    """
    now = runtime.clock.now()
    with runtime.store.write() as tx:
        if key is not None:
            not_before = now - runtime.config.idempotency_ttl_s
            previous = tx.stored_response(client, key, not_before)
            if previous is not None:
                if previous.fingerprint != request_fp:
                    raise ApiProblem(
                        422,
                        "idempotency_key_reused",
                        "this Idempotency-Key was used for a different request; use a new key "
                        "for a new request",
                        (Detail("Idempotency-Key", "reused with a different body"),),
                    )
                return StoredResponse(
                    previous.fingerprint,
                    previous.status,
                    previous.body,
                    (*previous.headers, ("Idempotent-Replayed", "true")),
                )
            tx.forget_responses_before(not_before)
        stored: StoredResponse = action(tx)
        if key is not None:
            tx.store_response(client, key, stored, now)
    return stored


def replay(stored: StoredResponse) -> Response:
    return Response(stored.body, stored.status, headers=dict(stored.headers), media_type=JSON)


async def patch_connector(request: Request) -> Response:
    runtime = runtime_of(request)
    check_content_type(request.headers.get("content-type"))
    if_match = request.headers.get("if-match")
    if if_match is None:
        raise ApiProblem(
            428,
            "precondition_required",
            "PATCH needs an If-Match header with the connector's current ETag; GET it first",
            (Detail("If-Match", "is required"),),
        )
    tags = parse_if_match(if_match)
    patch = await read_body(request, runtime.config.max_body_bytes)
    check_read_only(patch)
    connector_id = request.path_params["id"]
    with runtime.store.write() as tx:
        etag, public = apply_patch(runtime, tx, connector_id, patch, tags, admin=False)
    return json_response(public, etag=etag)


def apply_patch(
    runtime: Runtime,
    tx: Tx,
    connector_id: str,
    patch: dict[str, Any],
    if_match: list[str] | None,
    admin: bool,
) -> tuple[str, str]:
    """Merge `patch` into the stored connector (inside `tx`); returns (etag, public JSON).

    `admin` (the out-of-band edit of `/_emulator`) skips If-Match, lifecycle and
    immutability rules, as a person in the CXone UI would.
    """
    row = tx.connector(connector_id)
    if row is None:
        raise not_found(f"connector {connector_id}")
    if if_match is not None and not etag_matches(if_match, row.etag):
        raise _stale_if_match(runtime, row.name, if_match)
    current = load_document(row)
    check_patch_keys(patch)
    if not admin:
        _check_connector_type(current, patch)
    merged = merge_patch(current, patch)
    check_document(merged, credentials_by_type=False)
    _check_credentials(merged)
    before, after = current["lifecycleStatus"], merged.get("lifecycleStatus", "DRAFT")
    if not admin:
        _check_transition(before, after)
    auth_patch = patch.get("authentication")
    written = auth_patch.get("credentials") if isinstance(auth_patch, dict) else None
    doc = digest_credentials(connector_id, with_defaults(merged), written)
    if doc == current:
        return row.etag, row.public  # nothing changed: no new revision
    now = iso(runtime.clock.now())
    new_row = build_row(connector_id, doc, row.revision + 1, row.created_time, now)
    try:
        tx.update_connector(new_row)
    except NameTaken:
        raise name_conflict(new_row.name) from None
    return new_row.etag, new_row.public


def _stale_if_match(runtime: Runtime, name: str, if_match: list[str]) -> ApiProblem:
    """The precondition failure for an If-Match that does not match the current ETag."""
    shown = ", ".join(if_match)
    if all(tag.startswith("W/") for tag in if_match):
        message = (
            f"If-Match {shown} is a weak ETag, and If-Match compares strongly, so it never "
            "matches; send the connector's ETag exactly as returned (no W/)"
        )
    else:
        message = (
            f"connector {name!r} changed since you read it (If-Match {shown} is "
            "stale); GET it again and re-apply your change"
        )
    return ApiProblem(
        runtime.knobs.conflict_status,
        "precondition_failed",
        message,
        (Detail("If-Match", "does not match the current ETag"),),
    )


def _check_connector_type(current: dict[str, Any], patch: dict[str, Any]) -> None:
    """ApiProblem (422) when the patch would change the immutable connectorType."""
    if patch.get("connectorType", current["connectorType"]) != current["connectorType"]:
        raise ApiProblem(
            422,
            "immutable_field",
            f"connectorType cannot change ({current['connectorType']} → "
            f"{patch['connectorType']}); create a new connector instead",
            (Detail("/connectorType", "is immutable"),),
        )


def _check_credentials(merged: dict[str, Any]) -> None:
    """ApiProblem (422) when the patched credentials do not fit the authentication type."""
    mismatches = credential_mismatches(merged.get("authentication"))
    if mismatches:
        auth_type = merged["authentication"]["type"]
        raise ApiProblem(
            422,
            "credentials_mismatch",
            f"after this patch the connector would authenticate by {auth_type} with "
            f"credentials that {auth_type} does not use; changing the type, remove the old "
            'keys in the same PATCH, e.g. {"authentication": {"type": "' + auth_type + '", '
            '"credentials": {"<old key>": null, ...}}}',
            mismatches,
        )


def _check_transition(before: str, after: str) -> None:
    """ApiProblem (422) when lifecycleStatus may not go from `before` to `after`."""
    if before != after and after not in ALLOWED_TRANSITIONS.get(before, ()):
        hint = (
            "ERROR is set only by the server"
            if after == "ERROR"
            else "a connector never goes back to DRAFT"
            if after == "DRAFT"
            else "this transition is not allowed"
        )
        raise ApiProblem(
            422,
            "invalid_transition",
            f"lifecycleStatus cannot change from {before} to {after}: {hint}",
            (Detail("/lifecycleStatus", f"{before} → {after} is not allowed"),),
        )
