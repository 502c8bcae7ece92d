"""The emulator's error responses: `{error, message, details}` JSON with the right status.

Handlers raise `ApiProblem`; the app turns it into a response. `details` is always a list of
`{path, message}` objects so clients can point at the offending field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from starlette.responses import Response

JSON: Final = "application/json"


@dataclass(frozen=True, slots=True)
class Detail:
    path: str
    message: str


class ApiProblem(Exception):
    """An HTTP error answer; `error` is a stable machine-readable code."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        details: Sequence[Detail] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status, error, message)
        self.status = status
        self.error = error
        self.message = message
        self.details = tuple(details)
        self.headers = dict(headers or {})

    def __str__(self) -> str:
        return f"{self.status} {self.error}: {self.message}"

    def body(self) -> bytes:
        return dumps(
            {
                "error": self.error,
                "message": self.message,
                "details": [{"path": d.path, "message": d.message} for d in self.details],
            }
        )

    def response(self) -> Response:
        return Response(self.body(), self.status, headers=dict(self.headers), media_type=JSON)


def dumps(value: object) -> bytes:
    """Compact JSON, the one encoding every response uses."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def bad_request(
    message: str, details: Sequence[Detail] = (), error: str = "bad_request"
) -> ApiProblem:
    return ApiProblem(400, error, message, details)


def validation_failed(details: Sequence[Detail]) -> ApiProblem:
    first = details[0]
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    where = f"{first.path}: " if first.path else ""
    return ApiProblem(400, "validation_failed", f"{where}{first.message}{more}", details)


def not_found(what: str) -> ApiProblem:
    return ApiProblem(404, "not_found", f"{what} does not exist")
