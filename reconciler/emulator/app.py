"""`create_app(config)`: the emulator as one Starlette app (routes, error handlers, gateway).

Served by uvicorn (`cxrecon emulator serve`, `EmbeddedEmulator`) or mounted in-process with
`httpx.ASGITransport(app=create_app(config))`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import lru_cache
from importlib.resources import files
from typing import Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, request_response
from starlette.types import Receive, Scope, Send

from reconciler.emulator import admin, api, syncjobs, wellknown
from reconciler.emulator.config import EmulatorConfig
from reconciler.emulator.gateway import OPENAPI_PATH, Gateway
from reconciler.emulator.problem import ApiProblem
from reconciler.emulator.runtime import Runtime

Endpoint = Callable[[Request], Awaitable[Response]]

OPENAPI_RESOURCE: Final = "cxone-api.openapi.yaml"
METHOD_ORDER: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
HTTP_ERRORS: Final = {
    404: ("not_found", "no such route; see /api/v2/openapi.yaml"),
    405: ("method_not_allowed", "this method is not allowed here; see the Allow header"),
}


@lru_cache(maxsize=1)
def openapi_document() -> bytes:
    """The OpenAPI document shipped in `reconciler.schemas` (schemas/ in the repository)."""
    return files("reconciler.schemas").joinpath(OPENAPI_RESOURCE).read_bytes()


async def openapi(request: Request) -> Response:
    return Response(openapi_document(), media_type="application/yaml")


class ByMethod:
    """All methods of one path as one ASGI app, so a 405 lists them all in `Allow` (one
    Starlette Route per method names only its own). HEAD is served as GET.

    An object, not a function: Starlette gives a function endpoint `methods=["GET"]` by
    default, while an ASGI app is routed for every method and left to answer 405 itself.
    """

    def __init__(self, methods: Mapping[str, Endpoint]) -> None:
        self.methods = dict(methods)
        allowed = [m for m in METHOD_ORDER if m in methods or (m == "HEAD" and "GET" in methods)]
        self.allow = ", ".join(allowed)
        self._app = request_response(self._dispatch)

    async def _dispatch(self, request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        handler = self.methods.get(method)
        if handler is None:
            raise HTTPException(405, headers={"Allow": self.allow})
        return await handler(request)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiProblem)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error, message = HTTP_ERRORS.get(exc.status_code, ("http_error", str(exc.detail)))
    problem = ApiProblem(exc.status_code, error, message, (), dict(exc.headers or {}))
    return problem.response()


async def _crash(request: Request, exc: Exception) -> Response:
    return ApiProblem(500, "internal_error", "the emulator failed; see its log").response()


def create_app(config: EmulatorConfig) -> Starlette:
    """A fresh emulator over `config.db_path` (created if missing, kept between runs)."""
    runtime = Runtime(config)
    connector = "/api/v2/crm/connectors/{id}"
    table: dict[str, dict[str, Endpoint]] = {
        "/api/v2/oauth/token": {"POST": runtime.tokens.endpoint},
        "/api/v2/crm/connectors": {"GET": api.list_connectors, "POST": api.create_connector},
        connector: {"GET": api.get_connector, "PATCH": api.patch_connector},
        connector + "/sync": {"POST": syncjobs.start_sync},
        connector + "/sync/{syncId}": {"GET": syncjobs.get_sync},
        OPENAPI_PATH: {"GET": openapi},
        wellknown.DISCOVERY_PATH: {"GET": wellknown.cxone_configuration},
        "/_emulator/openapi.yaml": {"GET": openapi},
        "/_emulator/health": {"GET": admin.health},
        "/_emulator/stats": {"GET": admin.stats},
        "/_emulator/reset": {"POST": admin.reset},
        "/_emulator/faults": {"GET": admin.get_faults, "POST": admin.set_faults},
        "/_emulator/clock": {"POST": admin.advance_clock},
        "/_emulator/connectors": {"POST": admin.create_connector},
        "/_emulator/connectors/{id}": {
            "PATCH": admin.edit_connector,
            "DELETE": admin.delete_connector,
        },
    }
    routes = [Route(path, ByMethod(methods)) for path, methods in table.items()]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                Gateway,
                runtime=runtime,
                routes={path: frozenset(methods) for path, methods in table.items()},
            )
        ],
        exception_handlers={
            ApiProblem: _problem,
            HTTPException: _http_error,
            Exception: _crash,
        },
    )
    app.state.runtime = runtime
    return app


def runtime_of(app: Starlette) -> Runtime:
    """The running emulator's services (tests and the embedded server use it to close)."""
    runtime: Runtime = app.state.runtime
    return runtime
