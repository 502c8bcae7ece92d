"""Admin routes under `/_emulator/`: stats, reset, run-time fault settings, a movable clock, and
out-of-band connector edits standing in for a person using the CXone UI.

No auth, so the writes (POST, PATCH, DELETE) are kept from web pages by the gateway
(`guard.admin_write_problem`): their `Host` must be a loopback name or address, the address
the request arrived on or a configured admin host (403 `forbidden_host`), an `Origin`, if
sent, must match that Host (403 `forbidden_origin`), and POST/PATCH bodies must be JSON
(415 otherwise, even for `{}`). Reads (stats, faults, health) are open.
"""

from __future__ import annotations

import time
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from reconciler.emulator.api import apply_patch, json_response, name_conflict, runtime_of
from reconciler.emulator.config import INTEGER_KNOBS, KNOB_NAMES, check_knobs
from reconciler.emulator.faults import parse_script
from reconciler.emulator.problem import ApiProblem, Detail, bad_request, dumps, not_found
from reconciler.emulator.request_checks import check_content_type, parse_json_object
from reconciler.emulator.resource import (
    build_row,
    digest_credentials,
    iso,
    new_connector_id,
)
from reconciler.emulator.store import NameTaken
from reconciler.emulator.validation import check_document, check_read_only, with_defaults

YEAR_S: Final = 365 * 24 * 3600
#: How far one `POST /_emulator/clock` may move the clock, and how far it may move in all.
MAX_ADVANCE_S: Final = 10 * YEAR_S
MAX_OFFSET_S: Final = 100 * YEAR_S


async def _object_body(request: Request) -> dict[str, Any]:
    """The JSON object body every admin POST takes (`{}` for "no settings"); the gateway has
    already checked it is JSON (415) and not too large (413)."""
    check_content_type(request.headers.get("content-type"))
    raw = await request.body()
    if not raw.strip():
        raise bad_request(
            "the request body is empty; send a JSON object ({} for none)", error="invalid_json"
        )
    return parse_json_object(raw, request.app.state.runtime.config.max_body_bytes)


async def health(request: Request) -> Response:
    return json_response(b'{"status":"ok"}')


async def stats(request: Request) -> Response:
    runtime = runtime_of(request)
    requests: dict[str, dict[str, int]] = {}
    for (route, status), count in sorted(runtime.stats.requests.items()):
        requests.setdefault(route, {})[str(status)] = count
    body = {
        "requests": requests,
        "faults": dict(sorted(runtime.faults.injected.items())),
        "rateLimited": runtime.stats.rate_limited,
        "inFlight": runtime.stats.in_flight,
        "peakInFlight": runtime.stats.peak_in_flight,
        "connectors": runtime.store.read().connector_count(),
        "uptimeSeconds": round(time.monotonic() - runtime.stats.started, 3),
        "settings": runtime.knobs.as_json(),
    }
    return json_response(dumps(body))


async def reset(request: Request) -> Response:
    body = await _object_body(request)
    tokens = body.get("tokens", False)
    if not isinstance(tokens, bool) or set(body) - {"tokens"}:
        raise bad_request('the body is {"tokens": true|false} (optional)')
    runtime_of(request).reset(tokens=tokens)
    return json_response(b'{"reset":true}')


async def get_faults(request: Request) -> Response:
    runtime = runtime_of(request)
    body = {**runtime.knobs.as_json(), "next": [f.as_json() for f in runtime.faults.script]}
    return json_response(dumps(body))


async def set_faults(request: Request) -> Response:
    """Change knobs at run time: any of the GET names, plus `next` (scripted one-shot faults)."""
    runtime = runtime_of(request)
    body = await _object_body(request)
    unknown = sorted(set(body) - set(KNOB_NAMES) - {"next"})
    if unknown:
        raise bad_request(
            f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(KNOB_NAMES)}, next",
            [Detail(f"/{name}", "is not a known setting") for name in unknown],
        )
    values = {KNOB_NAMES[k]: v for k, v in body.items() if k in KNOB_NAMES}
    if "seed" in values and (
        isinstance(values["seed"], bool) or not isinstance(values["seed"], int)
    ):
        raise bad_request("seed must be an integer")
    problems = check_knobs(values)
    if problems:
        raise bad_request("; ".join(problems), error="invalid_settings")
    script = parse_script(body["next"]) if "next" in body else None
    for name, value in values.items():
        if name == "fault_kinds":
            value = tuple(value)
        elif name in INTEGER_KNOBS:
            value = int(value)
        setattr(runtime.knobs, name, value)
    if "seed" in values:
        runtime.faults.reseed()
    if script is not None:
        runtime.faults.script.extend(script)
    return await get_faults(request)


async def advance_clock(request: Request) -> Response:
    """Move the emulator's clock forward: expires tokens and finishes sync jobs, no sleeping.

    At most MAX_ADVANCE_S per call and MAX_OFFSET_S in all (422 beyond), so timestamps stay
    representable and the offset stays a finite JSON number.
    """
    runtime = runtime_of(request)
    body = await _object_body(request)
    seconds = body.get("advanceSeconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise bad_request('the body is {"advanceSeconds": <number >= 0>}')
    # Compared before any float(): an integer too big for a float must not overflow.
    if not 0 <= seconds <= MAX_ADVANCE_S:
        raise _clock_out_of_range(
            f"advanceSeconds must be between 0 and {MAX_ADVANCE_S} (10 years)",
            f"must be between 0 and {MAX_ADVANCE_S}",
        )
    if runtime.clock.offset + seconds > MAX_OFFSET_S:
        left = MAX_OFFSET_S - runtime.clock.offset
        raise _clock_out_of_range(
            f"the clock is {runtime.clock.offset:g} s ahead; it can move at most "
            f"{MAX_OFFSET_S} s (100 years) in all, so at most {left:g} s more "
            "(POST /_emulator/reset puts it back)",
            f"must be at most {left:g} now",
        )
    runtime.clock.advance(float(seconds))
    return json_response(dumps({"offsetSeconds": runtime.clock.offset}))


def _clock_out_of_range(message: str, detail: str) -> ApiProblem:
    return ApiProblem(422, "clock_out_of_range", message, (Detail("/advanceSeconds", detail),))


async def create_connector(request: Request) -> Response:
    """Put a connector in place in any lifecycle state (e.g. one created outside git)."""
    runtime = runtime_of(request)
    check_content_type(request.headers.get("content-type"))
    body = parse_json_object(await request.body(), runtime.config.max_body_bytes)
    check_read_only(body)
    check_document(body)
    connector_id = new_connector_id()
    now = iso(runtime.clock.now())
    doc = digest_credentials(
        connector_id, with_defaults(body), body["authentication"].get("credentials")
    )
    row = build_row(connector_id, doc, 1, now, now)
    with runtime.store.write() as tx:
        try:
            tx.insert_connector(row)
        except NameTaken:
            raise name_conflict(row.name) from None
    return json_response(row.public, 201, etag=row.etag)


async def edit_connector(request: Request) -> Response:
    """Merge-patch without If-Match or lifecycle rules; bumps the ETag like any write."""
    runtime = runtime_of(request)
    check_content_type(request.headers.get("content-type"))
    patch = parse_json_object(await request.body(), runtime.config.max_body_bytes)
    check_read_only(patch)
    with runtime.store.write() as tx:
        etag, public = apply_patch(runtime, tx, request.path_params["id"], patch, None, admin=True)
    return json_response(public, etag=etag)


async def delete_connector(request: Request) -> Response:
    runtime = runtime_of(request)
    with runtime.store.write() as tx:
        if not tx.delete_connector(request.path_params["id"]):
            raise not_found(f"connector {request.path_params['id']}")
    return Response(status_code=204)
