"""`EmbeddedEmulator`: the emulator on a background thread on a free loopback port.

Used by `--emulator`, by the test fixtures and by benchmarks: `with EmbeddedEmulator(db) as e:
e.base_url` is ready to serve when the block starts and shut down when it ends. A database
(or one of SQLite's files beside it) that is a symbolic link is refused: in a repository, one
could send the emulator's writes out of the project.
"""

from __future__ import annotations

import socket
import stat
import threading
from dataclasses import replace
from pathlib import Path
from types import TracebackType

from starlette.applications import Starlette

from reconciler.emulator.app import create_app, runtime_of
from reconciler.emulator.config import EmulatorConfig
from reconciler.emulator.runtime import Runtime
from reconciler.emulator.server import ReadyServer, bind_socket, uvicorn_config
from reconciler.errors import CxreconError

START_TIMEOUT_S = 30.0
#: The files SQLite keeps beside a database (WAL mode, and the rollback journal).
SIDE_FILES = ("-wal", "-shm", "-journal")


class EmulatorStartError(CxreconError):
    """The embedded emulator could not start (port, database or thread trouble)."""


class EmbeddedEmulator:
    """Context manager running the emulator over `db_path` on 127.0.0.1:<free port>."""

    def __init__(
        self, db_path: Path, config: EmulatorConfig | None = None, host: str = "127.0.0.1"
    ) -> None:
        config = (config or EmulatorConfig()).with_db(Path(db_path))
        if host not in config.admin_hosts:
            config = replace(config, admin_hosts=(*config.admin_hosts, host))
        self.config = config
        self.host = host
        self.port = 0
        self.app: Starlette | None = None
        self._server: ReadyServer | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._error: BaseException | None = None

    @property
    def root_url(self) -> str:
        """http://127.0.0.1:PORT (admin routes live under /_emulator/)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT/api/v2, the CXONE_BASE_URL of this emulator."""
        return f"{self.root_url}/api/v2"

    @property
    def runtime(self) -> Runtime:
        if self.app is None:
            raise RuntimeError("the emulator is not running")
        return runtime_of(self.app)

    def __enter__(self) -> EmbeddedEmulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        refuse_linked_database(self.config.db_path)
        try:
            self.app = create_app(self.config)
            self._socket = bind_socket(self.host, 0)
        except (OSError, ValueError) as exc:
            self._cleanup()
            raise EmulatorStartError(
                f"cannot start the embedded emulator with state in {self.config.db_path}: {exc}"
            ) from exc
        self.port = self._socket.getsockname()[1]
        # A pending "slow" fault must not hold up a test's teardown for its full delay.
        config = uvicorn_config(
            self.app,
            host=self.host,
            port=self.port,
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=1,
        )
        self._server = ReadyServer(config)
        self._thread = threading.Thread(
            target=self._run, name=f"cxrecon-emulator-{self.port}", daemon=True
        )
        self._thread.start()
        if not self._server.ready.wait(START_TIMEOUT_S) or not self._server.started:
            error = self._error
            self.stop()
            raise EmulatorStartError(
                f"the embedded emulator did not start on {self.root_url}: {error or 'timeout'}"
            )

    def _run(self) -> None:
        assert self._server is not None
        assert self._socket is not None
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:
            self._error = exc
        finally:
            self._server.ready.set()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=START_TIMEOUT_S)
        self._cleanup()

    def _cleanup(self) -> None:
        if self.app is not None:
            runtime_of(self.app).close()
        if self._socket is not None:
            self._socket.close()
        self.app = None
        self._server = None
        self._thread = None
        self._socket = None


def refuse_linked_database(db_path: Path) -> None:
    """EmulatorStartError (one line) when the database or a file SQLite keeps beside it is a
    symbolic link: SQLite opens them through links."""
    for path in (db_path, *(db_path.with_name(db_path.name + s) for s in SIDE_FILES)):
        try:
            mode = path.lstat().st_mode
        except OSError:
            continue
        if stat.S_ISLNK(mode):
            raise EmulatorStartError(
                f"{_shown(path)} is a symbolic link; the embedded emulator never writes its "
                "database through links (one committed to a repository could send it out of "
                "the project): remove it and run again"
            )


def _shown(path: Path) -> str:
    # As reconciler.safefs.shown (which the emulator may not import): relative when inside.
    try:
        return path.absolute().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)
