"""`GET /.well-known/cxone-configuration`: the discovery document, naming this emulator.

A real CXone tenant is found through such a document (its `api_endpoint` is the regional
API host); the emulator serves one so `CXONE_DISCOVERY_URL` can be tried locally. It names
the emulator as the request reached it (scheme and `Host`), so it is right for whatever
address or port a client used. No auth, as on the real platform; `tenantId` is echoed.
"""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from reconciler.emulator.gateway import TOKEN_PATH
from reconciler.emulator.problem import JSON, dumps

DISCOVERY_PATH: Final = "/.well-known/cxone-configuration"
#: The one tenant the emulator has, when the request names none.
EMULATOR_TENANT: Final = "emulator"
#: The `area` of the emulator's one cluster (real tenants have e.g. `na1`).
EMULATOR_AREA: Final = "local"


async def cxone_configuration(request: Request) -> Response:
    root = f"{request.url.scheme}://{request.url.netloc}"
    body = {
        "tenantId": request.query_params.get("tenantId") or EMULATOR_TENANT,
        "area": EMULATOR_AREA,
        "api_endpoint": root,
        "token_endpoint": root + TOKEN_PATH,
    }
    return Response(dumps(body), media_type=JSON)
