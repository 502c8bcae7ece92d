"""Strict checks of a request's envelope: the JSON body (media type, size, UTF-8, one JSON
object without duplicate keys or NaN), paging parameters and the Idempotency-Key header.

Bad input is a 400/413/415 `ApiProblem`; it never reaches the store and never ends in a 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from reconciler.emulator.problem import ApiProblem, Detail, bad_request

PAGE_MAX: Final = 100
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
JSON_TYPES: Final = ("application/json", "application/merge-patch+json")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def check_content_type(content_type: str | None, allowed: tuple[str, ...] = JSON_TYPES) -> None:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in allowed:
        shown = media or "none"
        raise ApiProblem(
            415,
            "unsupported_media_type",
            f"Content-Type {shown} is not accepted here; send {' or '.join(allowed)}",
        )


def parse_json_object(body: bytes, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object: 413 when too large, 400 when not a JSON object."""
    if len(body) > max_bytes:
        raise too_large(max_bytes)
    if not body.strip():
        raise bad_request("the request body is empty; send a JSON object", error="invalid_json")
    try:
        value = json.loads(
            body.decode("utf-8"),
            object_pairs_hook=_unique_pairs,
            parse_constant=_reject_constant,
        )
    except UnicodeDecodeError:
        raise bad_request("the request body is not UTF-8", error="invalid_json") from None
    except RecursionError:
        raise bad_request("the JSON body is nested too deeply", error="invalid_json") from None
    except ValueError as exc:
        raise bad_request(f"malformed JSON: {exc}", error="invalid_json") from None
    if not isinstance(value, dict):
        raise bad_request("the request body must be a JSON object", error="invalid_json")
    return value


def too_large(max_bytes: int) -> ApiProblem:
    """413; the connection is closed after it, so the rest of the body is never read."""
    return ApiProblem(
        413,
        "payload_too_large",
        f"the request body is larger than {max_bytes} bytes",
        headers={"Connection": "close"},
    )


# --- parameters -------------------------------------------------------------


def paging(query: Mapping[str, str]) -> tuple[int, int]:
    """skip (≥ 0, default 0) and top (1..100, default 100)."""
    skip = _int_param(query, "skip", 0, 0, None)
    top = _int_param(query, "top", PAGE_MAX, 1, PAGE_MAX)
    return skip, top


def _int_param(
    query: Mapping[str, str], name: str, default: int, low: int, high: int | None
) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    bound = f"between {low} and {high}" if high is not None else f">= {low}"
    if not re.fullmatch(r"[0-9]{1,9}", raw):
        raise bad_request(
            f"query parameter {name} must be an integer {bound}",
            [Detail(name, "is not an integer")],
            error="invalid_parameter",
        )
    value = int(raw)
    if value < low or (high is not None and value > high):
        raise bad_request(
            f"query parameter {name} must be {bound}, not {value}",
            [Detail(name, f"must be {bound}")],
            error="invalid_parameter",
        )
    return value


def check_idempotency_key(key: str) -> str:
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise bad_request(
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
            error="invalid_idempotency_key",
        )
    return key
