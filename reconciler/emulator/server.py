"""Serving the app with uvicorn: a protocol that exposes the socket (so faults can really
drop or reset a connection) and a server that says when it is ready.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from reconciler.emulator.faults import TRANSPORT_KEY


class ConnectionAwareProtocol(H11Protocol):
    """h11 protocol whose ASGI scopes carry the connection's transport under TRANSPORT_KEY."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        inner: ASGIApp = self.app

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            scope.setdefault("extensions", {})[TRANSPORT_KEY] = transport
            await inner(scope, receive, send)

        self.app = app


class ReadyServer(uvicorn.Server):
    """A uvicorn server that sets `ready` once it accepts connections (or failed to start)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.ready.set()


def uvicorn_config(
    app: ASGIApp, *, host: str, port: int, access_log: bool, **extra: Any
) -> uvicorn.Config:
    """The settings every emulator server uses; `extra` passes uvicorn options through."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=ConnectionAwareProtocol,
        ws="none",
        lifespan="off",
        loop="asyncio",
        access_log=access_log,
        backlog=4096,
        timeout_keep_alive=30,
        **extra,
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0 picks a free one, known before the server starts)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose
    # proto says TCP, and without it every keep-alive answer waits ~40 ms on delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(4096)
    sock.setblocking(False)
    return sock
