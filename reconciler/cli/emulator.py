"""`cxrecon emulator serve|reset`: run the local CXone API server, or wipe its state.

The only CLI module that imports `reconciler.emulator` at load time; the group is listed
lazily in `reconciler.cli.main`, so other commands never pay for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click

from reconciler.cli.common import EMULATOR_DB
from reconciler.config.settings import DEFAULT_SCOPES, EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET
from reconciler.emulator.config import FAULT_KINDS, EmulatorConfig, OAuthClient
from reconciler.errors import ConfigError, CxreconError

if TYPE_CHECKING:
    import socket

    from starlette.applications import Starlette


F = TypeVar("F", bound=Callable[..., Any])


class EmulatorServeError(CxreconError):
    """The emulator could not start (bad settings, port in use, unusable database)."""


def _users(values: tuple[str, ...]) -> dict[str, str]:
    users: dict[str, str] = {}
    for value in values:
        name, sep, password = value.partition(":")
        if not sep or not name or not password:
            raise click.BadParameter("use --user NAME:PASSWORD", param_hint="--user")
        users[name] = password
    return users


@click.group()
def emulator() -> None:
    """The local CXone API emulator (OAuth, connectors, sync jobs, faults)."""


@dataclass(frozen=True)
class _Flag:
    """One option of `serve`, shown with its default in --help."""

    decls: tuple[str, ...]
    default: object
    help: str
    type: click.ParamType[Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


#: `serve`'s options, in --help order (one declaration path for all of them).
_SERVE_FLAGS: Final = (
    _Flag(("--host",), "127.0.0.1", "Address to bind."),
    _Flag(
        ("--port",),
        8787,
        "Port to listen on (0: any free port, printed at start).",
        click.IntRange(0, 65535),
    ),
    _Flag(
        ("--db", "db_path"),
        EMULATOR_DB,
        "SQLite file with the emulator's state (kept across restarts).",
        click.Path(dir_okay=False, path_type=Path),
    ),
    _Flag(
        ("--latency-ms",),
        0,
        "Added to every API response (a WAN round trip).",
        click.IntRange(0, 600_000),
    ),
    _Flag(("--jitter-ms",), 0, "Random ± spread around --latency-ms.", click.IntRange(0, 600_000)),
    _Flag(
        ("--fault-rate",),
        0.0,
        "Fraction of API requests given a transient fault.",
        click.FloatRange(0, 1),
    ),
    _Flag(("--fault-kinds",), ",".join(FAULT_KINDS), "Comma-separated faults to draw from."),
    _Flag(
        ("--slow-ms",),
        15_000,
        "How late a 'slow' fault answers (longer than a client timeout).",
        click.IntRange(0, 600_000),
    ),
    _Flag(
        ("--rate-limit",),
        0.0,
        "Requests per second per OAuth client; 0 turns limiting off.",
        click.FloatRange(0),
    ),
    _Flag(("--burst",), 20, "Token-bucket size for --rate-limit.", click.IntRange(1)),
    _Flag(("--token-ttl",), 3600, "Access-token lifetime in seconds.", click.IntRange(1)),
    _Flag(
        ("--conflict-status",),
        "412",
        "Status for a stale If-Match.",
        click.Choice(["409", "412"]),
    ),
    _Flag(("--seed",), 0, "Seed for fault and jitter draws (reproducible runs).", click.INT),
    _Flag(
        ("--sync-step",),
        0.05,
        "Seconds per sync-job step (PENDING → RUNNING → done).",
        click.FloatRange(0),
    ),
    _Flag(
        ("--max-body-bytes",),
        256 * 1024,
        "Largest request body accepted; a bigger one is answered 413.",
        click.IntRange(1),
    ),
    _Flag(("--client-id",), EMULATOR_CLIENT_ID, "OAuth client accepted by the token endpoint."),
    _Flag(
        ("--client-secret",),
        EMULATOR_CLIENT_SECRET,
        "Its secret (or CXRECON_EMULATOR_CLIENT_SECRET).",
        extra={"envvar": "CXRECON_EMULATOR_CLIENT_SECRET"},
    ),
    _Flag(
        ("--user", "users"),
        None,
        "A user for the password grant (repeatable; default demo-user).",
        extra={"multiple": True, "metavar": "NAME:PASSWORD", "show_default": False},
    ),
    _Flag(("--access-log/--no-access-log",), True, "Log one line per request on stderr."),
)


def _serve_options(func: F) -> F:
    for flag in reversed(_SERVE_FLAGS):
        settings = {"default": flag.default, "show_default": True, "type": flag.type}
        func = click.option(*flag.decls, help=flag.help, **{**settings, **flag.extra})(func)
    return func


@emulator.command()
@_serve_options
def serve(
    host: str,
    port: int,
    db_path: Path,
    latency_ms: int,
    jitter_ms: int,
    fault_rate: float,
    fault_kinds: str,
    slow_ms: int,
    rate_limit: float,
    burst: int,
    token_ttl: int,
    conflict_status: str,
    seed: int,
    sync_step: float,
    max_body_bytes: int,
    client_id: str,
    client_secret: str,
    users: tuple[str, ...],
    access_log: bool,
) -> None:
    """Serve the CXone API under http://HOST:PORT/api/v2 until interrupted."""
    from reconciler.emulator.app import runtime_of
    from reconciler.emulator.server import ReadyServer, uvicorn_config

    kinds = tuple(k.strip() for k in fault_kinds.split(",") if k.strip())
    try:
        config = EmulatorConfig(
            db_path=db_path,
            clients={client_id: OAuthClient(client_secret, frozenset(DEFAULT_SCOPES))},
            users=_users(users) if users else EmulatorConfig().users,
            token_ttl=token_ttl,
            rate_limit=rate_limit,
            burst=burst,
            fault_rate=fault_rate,
            fault_kinds=kinds,
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            slow_ms=slow_ms,
            conflict_status=int(conflict_status),
            seed=seed,
            max_body_bytes=max_body_bytes,
            sync_step_s=sync_step,
            # Admin writes addressed to the name it serves under (e.g. a service name).
            admin_hosts=(host,),
        )
    except ValueError as exc:
        raise ConfigError(f"{exc} (see cxrecon emulator serve --help)") from None
    app = _open_app(config, db_path)
    sock = _bind(app, host, port)
    bound = sock.getsockname()[1]
    _announce(host, bound, db_path, client_id)
    server = ReadyServer(uvicorn_config(app, host=host, port=bound, access_log=access_log))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        runtime_of(app).close()


def _open_app(config: EmulatorConfig, db_path: Path) -> Starlette:
    from reconciler.emulator.app import create_app

    try:
        return create_app(config)
    except Exception as exc:  # sqlite3.Error, OSError: an unusable --db
        raise EmulatorServeError(
            f"cannot open the emulator state {db_path}: {exc}; pass --db a file in a writable "
            "directory"
        ) from None


def _bind(app: Starlette, host: str, port: int) -> socket.socket:
    from reconciler.emulator.app import runtime_of
    from reconciler.emulator.server import bind_socket

    try:
        return bind_socket(host, port)
    except OSError as exc:
        runtime_of(app).close()
        raise EmulatorServeError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port"
        ) from None


def _announce(host: str, port: int, db_path: Path, client_id: str) -> None:
    click.echo(
        f"CXone emulator on http://{host}:{port}/api/v2 (state in {db_path}); "
        f"OAuth client {client_id}; admin routes under /_emulator/. Ctrl-C stops it.",
        err=True,
    )
    if host not in ("127.0.0.1", "::1", "localhost"):
        click.echo(
            f"warning: {host} is not a loopback address; the /_emulator admin routes have no "
            "authentication, so anyone who can reach this port can change or wipe its state.",
            err=True,
        )


@emulator.command()
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=EMULATOR_DB,
    show_default=True,
    help="SQLite file with the emulator's state to reset.",
)
@click.option(
    "--tokens/--keep-tokens",
    default=True,
    show_default=True,
    help="Also forget issued access tokens.",
)
def reset(db_path: Path, tokens: bool) -> None:
    """Forget every connector, sync job and idempotency key in the emulator's state."""
    from reconciler.emulator.store import Store

    if not db_path.exists():
        click.echo(f"{db_path} does not exist; nothing to reset.", err=True)
        return
    store = Store(db_path)
    try:
        store.reset(tokens=tokens)
    finally:
        store.close()
    click.echo(f"Reset the emulator state in {db_path}.", err=True)
