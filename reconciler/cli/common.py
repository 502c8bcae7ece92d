"""Options and set-up shared by the commands that talk to CXone: `-e/--environment`,
`--emulator`, and turning them into connection settings for one run."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import click

from reconciler.settings import ConnectionSettings

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
        help="Environment from cxrecon.yaml (tenant, base URL, ${var:} values).",
    )(func)


def emulator_option(func: F) -> F:
    return click.option(
        "--emulator",
        is_flag=True,
        default=False,
        help=f"Run against an embedded CXone emulator (state in {EMULATOR_DB}).",
    )(func)


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
) -> Iterator[Target]:
    """Yield connection settings; with `emulator`, an embedded emulator runs meanwhile.

    The emulator is imported only here, lazily: the reconcile path never depends on it.
    """
    if emulator:
        from reconciler.emulator.embedded import EmbeddedEmulator

        EMULATOR_STATE_DIR.mkdir(parents=True, exist_ok=True)
        with EmbeddedEmulator(db_path=EMULATOR_DB) as running:
            yield Target(
                settings=ConnectionSettings.for_emulator(running.base_url),
                environment=environment,
                emulated=True,
            )
        return
    settings = ConnectionSettings.from_sources(os.environ, project_connection)
    yield Target(settings=settings, environment=environment, emulated=False)
