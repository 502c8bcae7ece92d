"""`create_app(config)`: the emulator as one Starlette app (routes, error handlers, gateway).

Served by uvicorn (`cxrecon emulator serve`, `EmbeddedEmulator`) or mounted in-process with
`httpx.ASGITransport(app=create_app(config))`.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reconciler.emulator import admin, api, syncjobs
from reconciler.emulator.config import EmulatorConfig
from reconciler.emulator.gateway import OPENAPI_PATH, Gateway
from reconciler.emulator.problem import ApiProblem
from reconciler.emulator.runtime import Runtime

OPENAPI_RESOURCE: Final = "cxone-api.openapi.yaml"
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
    routes = [
        Route("/api/v2/oauth/token", runtime.tokens.endpoint, methods=["POST"]),
        Route("/api/v2/crm/connectors", api.list_connectors, methods=["GET"]),
        Route("/api/v2/crm/connectors", api.create_connector, methods=["POST"]),
        Route(connector, api.get_connector, methods=["GET"]),
        Route(connector, api.patch_connector, methods=["PATCH"]),
        Route(connector + "/sync", syncjobs.start_sync, methods=["POST"]),
        Route(connector + "/sync/{syncId}", syncjobs.get_sync, methods=["GET"]),
        Route(OPENAPI_PATH, openapi, methods=["GET"]),
        Route("/_emulator/openapi.yaml", openapi, methods=["GET"]),
        Route("/_emulator/health", admin.health, methods=["GET"]),
        Route("/_emulator/stats", admin.stats, methods=["GET"]),
        Route("/_emulator/reset", admin.reset, methods=["POST"]),
        Route("/_emulator/faults", admin.get_faults, methods=["GET"]),
        Route("/_emulator/faults", admin.set_faults, methods=["POST"]),
        Route("/_emulator/clock", admin.advance_clock, methods=["POST"]),
        Route("/_emulator/connectors", admin.create_connector, methods=["POST"]),
        Route("/_emulator/connectors/{id}", admin.edit_connector, methods=["PATCH"]),
        Route("/_emulator/connectors/{id}", admin.delete_connector, methods=["DELETE"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Gateway, runtime=runtime, routes=frozenset(r.path for r in routes))],
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
