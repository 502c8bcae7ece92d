"""The controller's HTTP endpoints: /healthz, /readyz, /metrics and /status, on a tiny asyncio
server (GET and HEAD only, one request per connection) so probes need no extra dependency; and,
for a controller, its read-only status page (`/`, `/connectors/NAME`, `/static/…`: see
reconciler.controller.page).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Final, Protocol

from reconciler.controller.page.headers import HostAllowList, security_headers
from reconciler.errors import ConfigError

if TYPE_CHECKING:
    from reconciler.controller.page.app import StatusPage

#: A request head larger than this is refused; probes and scrapers send a few hundred bytes.
MAX_HEAD_BYTES: Final = 16 * 1024
READ_TIMEOUT_SECONDS: Final = 10.0


class StatusSource(Protocol):
    """What the endpoints show (the Controller)."""

    def readiness(self) -> tuple[bool, str]: ...

    def metrics(self) -> tuple[bytes, str]: ...

    def status_json(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class ListenAddress:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_listen(text: str) -> ListenAddress | None:
    """`127.0.0.1:9108`, `[::1]:9108`, `0.0.0.0:9108`; `off` (or empty) disables the server."""
    value = text.strip()
    if value.lower() in ("", "off", "none"):
        return None
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(
            f"--listen {text!r} is not HOST:PORT; write e.g. 127.0.0.1:9108, [::1]:9108 or off"
        )
    host = host.strip("[]") or "127.0.0.1"
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ConfigError(
                f"--listen host {host!r} is not an IP address; use 127.0.0.1 (local only), "
                "0.0.0.0 (every interface, e.g. in a pod) or localhost"
            ) from None
    return ListenAddress(host, int(port_text))


class HealthServer:
    """Serves a StatusSource; `start()` binds (port 0 picks a free one), `close()` stops."""

    def __init__(
        self, address: ListenAddress, source: StatusSource, hosts: HostAllowList | None = None
    ) -> None:
        self.address = address
        self.source = source
        #: The Host names answered (others get 421: DNS rebinding must not read the tenant).
        self.hosts = hosts or HostAllowList()
        self._server: asyncio.Server | None = None
        self._routes: dict[str, Callable[[], tuple[int, bytes, str]]] = {
            "/healthz": self._healthz,
            "/livez": self._healthz,
            "/readyz": self._readyz,
            "/metrics": self._metrics,
            "/status": self._status,
        }
        #: The status page, for a source that is a controller (imported here: probes alone
        #: need none of it).
        from reconciler.controller.page.app import StatusPage

        self._page: StatusPage | None = StatusPage.attach(source)

    async def start(self) -> ListenAddress:
        try:
            self._server = await asyncio.start_server(
                self._handle, self.address.host, self.address.port, limit=MAX_HEAD_BYTES
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {self.address} ({exc.strerror or exc}); pick a free port "
                "with --listen HOST:PORT, or --listen off"
            ) from None
        port = int(self._server.sockets[0].getsockname()[1])
        self.address = ListenAddress(self.address.host, port)
        if self._page is not None:
            await self._page.start()
        return self.address

    async def close(self) -> None:
        if self._page is not None:
            await self._page.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body, ctype, head_only = await self._respond(reader)
            reason = HTTPStatus(status).phrase
            headers = (
                f"HTTP/1.1 {status} {reason}\r\n"
                f"Content-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\n"
                "Cache-Control: no-store\r\n"
                f"{security_headers(ctype)}"
                "Connection: close\r\n\r\n"
            )
            writer.write(headers.encode("latin-1") + (b"" if head_only else body))
            await writer.drain()
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                async with asyncio.timeout(READ_TIMEOUT_SECONDS):
                    await writer.wait_closed()

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[int, bytes, str, bool]:
        try:
            async with asyncio.timeout(READ_TIMEOUT_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            return (*_text(431, "request header too large\n"), False)
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return (*_text(400, "bad request\n"), False)
        method, target = parts[0], parts[1]
        refused = self.hosts.refusal(head)
        if refused is not None:
            return (*_text(*refused), method == "HEAD")
        if method not in ("GET", "HEAD"):
            return (*_text(405, "only GET and HEAD\n"), False)
        route = self._routes.get(target.split("?", 1)[0])
        if route is None and self._page is not None:
            page = await self._page.respond(target)
            if page is not None:
                return (*page, method == "HEAD")
        if route is None:
            known = " ".join(sorted(self._routes))
            return (*_text(404, f"not found; endpoints: {known}\n"), method == "HEAD")
        return (*route(), method == "HEAD")

    def _healthz(self) -> tuple[int, bytes, str]:
        # Answering at all means the event loop runs: that is what liveness checks.
        return _text(200, "ok\n")

    def _readyz(self) -> tuple[int, bytes, str]:
        ready, why = self.source.readiness()
        return _text(200 if ready else 503, why + "\n")

    def _metrics(self) -> tuple[int, bytes, str]:
        body, ctype = self.source.metrics()
        return 200, body, ctype

    def _status(self) -> tuple[int, bytes, str]:
        return 200, self.source.status_json(), "application/json"


def _text(status: int, text: str) -> tuple[int, bytes, str]:
    return status, text.encode(), "text/plain; charset=utf-8"
