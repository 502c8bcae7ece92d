"""Options and set-up shared by the commands: `-e/--environment`, `--emulator` and the flags
several commands take alike, and turning them into connection settings for one run."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click

from reconciler.config.settings import ConnectionSettings

if TYPE_CHECKING:
    from reconciler.config.project import EnvironmentConfig, Project

F = TypeVar("F", bound=Callable[..., Any])

#: Where `--emulator` keeps its state, relative to the working directory.
EMULATOR_STATE_DIR: Final = Path(".cxrecon")
EMULATOR_DB: Final = EMULATOR_STATE_DIR / "emulator.sqlite"


def environment_option(func: F) -> F:
    return click.option(
        "-e",
        "--environment",
        "environment",
        metavar="NAME",
        default=None,
        envvar="CXRECON_ENVIRONMENT",
        help="Environment from cxrecon.yaml (tenant, base URL, ${var:} values); env "
        "CXRECON_ENVIRONMENT. A write to a project of several environments needs it.",
    )(func)


def write_environment(
    project: Project, environment: str | None, *, emulator: bool, identity: bool = True
) -> EnvironmentConfig:
    """The environment a command that writes to CXone goes to, once the write may happen:
    the project has an identity (`project:` or CXRECON_PROJECT), the environment is named
    when there are several, and the process environment's CXONE_BASE_URL (or discovery URL)
    is that environment's tenant. ConfigError (one line) otherwise, before anything is
    opened or written. The embedded emulator (`--emulator`) is no tenant: none applies.
    `identity=False` for a write that labels nothing (a CRM data sync)."""
    from reconciler.config.identity import check_write_target

    if emulator:
        return project.environment(environment)
    if identity:
        project.require_id()
        warning = project.identity_warning()
        if warning is not None:
            click.echo(warning, err=True)
    env = project.write_environment(environment)
    check_write_target(env, os.environ)
    return env


def identity_note(project: Project) -> str | None:
    """What a read-only command says on stderr when the project has no identity."""
    if project.project_id is not None:
        return None
    return (
        "project: not set (no `project:` in cxrecon.yaml, no CXRECON_PROJECT); connectors "
        "are planned as if every managed one were this project's, and apply refuses to "
        "write until it is set (`cxrecon init --project NAME`, or add `project:`)"
    )


def emulator_option(func: F) -> F:
    return click.option(
        "--emulator",
        is_flag=True,
        default=False,
        help=f"Run against an embedded CXone emulator (state in {EMULATOR_DB} of the project).",
    )(func)


def format_option(
    help: str, choices: Sequence[str] = ("text", "json", "markdown")
) -> Callable[[F], F]:
    """`--format` (into `output_format`); the help says what each format is for here."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(list(choices)),
        default="text",
        show_default=True,
        help=help,
    )


#: One meaning everywhere: how many API requests (and so connectors) are in flight at once.
PARALLELISM_HELP: Final = (
    "Concurrent API requests; connectors are read and applied that many at once."
)


def parallelism_option(default: int = 8, help: str = PARALLELISM_HELP) -> Callable[[F], F]:
    return click.option(
        "--parallelism", type=click.IntRange(1, 64), default=default, show_default=True, help=help
    )


def take_ownership_option(func: F) -> F:
    return click.option(
        "--take-ownership",
        is_flag=True,
        help="Plan connectors another project (cxrecon.yaml `project:`) manages as this "
        "project's; the apply moves their ownership label and the audit log records it.",
    )(func)


def strict_option(func: F) -> F:
    return click.option("--strict", is_flag=True, help="Treat validation warnings as errors.")(func)


def prune_option(func: F) -> F:
    return click.option(
        "--prune", is_flag=True, help="Deactivate managed connectors no longer in git."
    )(func)


def audit_log_option(help: str, default: Path | None) -> Callable[[F], F]:
    """`--audit-log FILE`; without a `default`, the help text states where it goes."""
    return click.option(
        "--audit-log",
        type=click.Path(dir_okay=False, path_type=Path),
        default=default,
        show_default=default is not None,
        help=help,
    )


def poll_options(func: F) -> F:
    """--poll-base/--poll-cap/--poll-attempts/--poll-timeout (defaults: cxrecon.yaml syncPoll;
    `reconciler.facade.syncing.poll_policy` combines the two)."""
    options = [
        click.option("--poll-base", type=click.FloatRange(min=0.01), help="First backoff (s)."),
        click.option("--poll-cap", type=click.FloatRange(min=0.01), help="Longest wait (s)."),
        click.option("--poll-attempts", type=click.IntRange(min=1), help="Most status reads."),
        click.option(
            "--poll-timeout", type=click.FloatRange(min=0.1), help="Give up waiting after (s)."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@dataclass(frozen=True)
class Target:
    """The tenant one run talks to."""

    settings: ConnectionSettings
    environment: str | None
    emulated: bool


@contextmanager
def open_target(
    environment: str | None,
    emulator: bool,
    project_connection: dict[str, str] | None = None,
    *,
    root: Path | None = None,
) -> Iterator[Target]:
    """Yield connection settings; with `emulator`, an embedded emulator runs meanwhile, its
    state in `.cxrecon/` of the project folder `root` (default: the working directory).

    The emulator is imported only here, lazily: the reconcile path never depends on it.
    """
    if emulator:
        from reconciler.emulator.embedded import EmbeddedEmulator
        from reconciler.safefs import ensure_dir

        # A `.cxrecon` committed as a link is refused: the database would be written through it.
        base = root if root is not None else Path.cwd()
        ensure_dir(base, base / EMULATOR_STATE_DIR)
        with EmbeddedEmulator(db_path=(root or Path()) / EMULATOR_DB) as running:
            yield Target(
                settings=ConnectionSettings.for_emulator(running.base_url),
                environment=environment,
                emulated=True,
            )
        return
    settings = ConnectionSettings.from_sources(os.environ, project_connection)
    yield Target(settings=settings, environment=environment, emulated=False)


def tenant_of(
    environment: str | None, emulator: bool, root: Path | None = None
) -> Callable[[EnvironmentConfig], AbstractContextManager[ConnectionSettings]]:
    """How the facade's one-shot runs reach the tenant of `-e`/`--emulator`: `open_target`
    over the environment's connection from cxrecon.yaml (the project folder `root`)."""

    @contextmanager
    def opened(env: EnvironmentConfig) -> Iterator[ConnectionSettings]:
        with open_target(environment, emulator, dict(env.connection), root=root) as target:
            yield target.settings

    return opened


def cache_option(func: F) -> F:
    return click.option(
        "--no-cache",
        "no_cache",
        is_flag=True,
        envvar="CXRECON_NO_CACHE",
        help="Parse and check every connector file, without reading or writing the cache "
        "of checked files (.cxrecon/cache/ by cxrecon.yaml; env CXRECON_NO_CACHE=1).",
    )(func)


def metrics_format_option(func: F) -> F:
    return click.option(
        "--metrics-format",
        type=click.Choice(["text", "json"]),
        default=None,
        help="Print the run summary (API calls, cache hits and misses) on stderr in this format.",
    )(func)
