"""A CXone stand-in that repeats back whatever credentials it is sent, to prove cxrecon's
errors and logs mask them. The path prefix picks the misbehaviour; tokens are predictable."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

#: prefix → what the server does wrong.
MODES: Final = {
    "refuse-token": "the token endpoint answers 401 quoting the request and its headers",
    "list-500": "listing connectors answers 500 quoting the Authorization header",
    "create-500": "creating a connector answers 500 quoting the request body (credentials)",
    "create-text": "creating a connector answers 200 with plain text quoting the request",
    "reject-credentials": "creating a connector answers 400 quoting the credentials as JSON",
    "unmasked-read": "reads return credential values in clear instead of masking them",
}


class IndiscreetServer:
    """`base_url(mode)` is a CXONE_BASE_URL; every access token it issues is `token`."""

    def __init__(self, token: str, listing: list[dict[str, Any]] | None = None) -> None:
        self.token = token
        #: What "unmasked-read" lists: connectors whose credentials are not masked.
        self.listing = listing or []
        handler = _handler_for(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def base_url(self, mode: str) -> str:
        assert mode in MODES, mode
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/{mode}/api/v2"

    def __enter__(self) -> IndiscreetServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _handler_for(server: IndiscreetServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: the test scans cxrecon's output, not this server's

        def do_POST(self) -> None:
            self._answer()

        def do_GET(self) -> None:
            self._answer()

        def do_PATCH(self) -> None:
            self._answer()

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace")
            mode, _, rest = self.path.lstrip("/").partition("/")
            heard = f"{self.command} {self.path} Authorization: {self.headers.get('Authorization')}"
            if rest.startswith("api/v2/oauth/token"):
                if mode == "refuse-token":
                    self._send(401, {"error": "invalid_client", "error_description": body + heard})
                else:
                    self._send(200, {"access_token": server.token, "expires_in": 3600})
            elif mode == "list-500":
                self._send(500, "internal error while serving " + heard, "text/plain")
            elif self.command == "GET" and mode == "unmasked-read":
                self._send(200, {"items": server.listing, "totalRecords": len(server.listing)})
            elif self.command == "GET":
                self._send(200, {"items": [], "totalRecords": 0})
            elif mode == "reject-credentials":
                sent = json.loads(body).get("authentication", {}).get("credentials")
                details = [{"field": "authentication.credentials", "rejected": sent}]
                self._send(400, {"error": "invalid", "message": "bad", "details": details})
            elif mode == "create-500":
                self._send(500, {"error": "internal", "message": f"could not store {body}"})
            else:
                self._send(200, f"stored {body} for {heard}", "text/plain")

        def _send(self, status: int, payload: object, kind: str = "application/json") -> None:
            data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
