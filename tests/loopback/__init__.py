"""An asyncio TCP server on 127.0.0.1 in a thread of its own, used as a context manager: the
test servers that answer byte for byte (tests/security/hostile_server.py, and in tests/cxone
the hostile listing server and the bending proxy) differ only in what they answer.

A subclass writes `connection()` (one client, until it hangs up) and may open something for
the server's whole life in `session()`. The server stops when the `with` block ends, or by
itself after `lifetime` seconds whatever the test does.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import ClassVar, Self


@dataclass(kw_only=True)
class LoopbackServer:
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)

    #: The thread's name, and what "did not start" names.
    name: ClassVar[str] = "loopback server"
    lifetime: ClassVar[float] = 300.0
    #: A client that hangs up (a bounded client does) ends its connection quietly.
    hung_up: ClassVar[tuple[type[BaseException], ...]] = (
        ConnectionError,
        asyncio.IncompleteReadError,
    )

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        yield

    def __enter__(self) -> Self:
        self._thread = threading.Thread(
            target=self._run, name=self.name.replace(" ", "-"), daemon=True
        )
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError(f"the {self.name} did not start")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._thread is None or not self._thread.is_alive():
            return  # the lifetime ran out first: it has stopped already
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = stop = asyncio.Event()
        handlers: set[asyncio.Task[None]] = set()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            handlers.add(task)
            try:
                await self.connection(reader, writer)
            except self.hung_up:
                pass
            except asyncio.CancelledError:
                pass  # the server is stopping; ending quietly keeps asyncio from logging it
            finally:
                handlers.discard(task)
                writer.close()

        async with self.session():
            server = await asyncio.start_server(accept, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            with contextlib.suppress(TimeoutError):  # the lifetime is up: stop anyway
                await asyncio.wait_for(stop.wait(), self.lifetime)
            server.close()
            for task in list(handlers):
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            await server.wait_closed()
