"""`cxrecon init [DIR] --project NAME`: start a connectors repository, from a live tenant with
--from-tenant. Parses, reads the tenant through the facade, prints what it wrote.

Exit codes: 0 written; 1 on any error (a bad name, files that exist without --force, the
tenant cannot be read), with nothing written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.cli.common import emulator_option

if TYPE_CHECKING:
    from reconciler.facade.adopting import InitResult


@click.command()
@click.argument(
    "directory",
    metavar="[DIR]",
    required=False,
    default=".",
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option(
    "--project",
    "project",
    required=True,
    metavar="NAME",
    help="The project's identity (`project:` in cxrecon.yaml, the ownership label's value).",
)
@click.option(
    "--from-tenant",
    is_flag=True,
    help="Write the tenant's connectors into connectors/, as `cxrecon dump` does.",
)
@click.option(
    "-e",
    "--environment",
    "environments",
    metavar="NAME",
    multiple=True,
    help="An environment (repeat, in the order merges apply them); the first one gets the "
    "connection of CXONE_* (or --emulator). Default: one environment, production (local "
    "with --emulator).",
)
@emulator_option
@click.option("--force", is_flag=True, help="Overwrite files that exist already.")
def init(
    directory: Path,
    project: str,
    from_tenant: bool,
    environments: tuple[str, ...],
    emulator: bool,
    force: bool,
) -> None:
    """Start a connectors repository in DIR (default: here).

    Writes cxrecon.yaml (the project, its environments with the connection used: base URL,
    token URL, client id, never a secret), .gitignore (.cxrecon/), connectors/, GitHub
    workflows for these environments (plan on pull requests, the reviewed plan applied on
    merge, drift on a schedule) naming exactly the secrets the connectors reference,
    .env.example and a README for the team. With --from-tenant, connectors/ holds the
    tenant's connectors: `cxrecon validate` passes and `cxrecon plan` shows only their
    adoption. Refuses to overwrite anything without --force.
    """
    # Imported here, not at the top: `cxrecon init --help` needs none of them.
    import asyncio
    import os

    from reconciler.facade import connect
    from reconciler.facade.adopting import (
        check_init,
        connection_from_environ,
        connection_of,
        init_project,
    )

    # The emulator stands in for no real tenant: its environment says so.
    names = environments or (("local",) if emulator else ("production",))
    check_init(directory, project=project, environments=names, force=force)
    if not from_tenant and not emulator:
        result = asyncio.run(
            init_project(
                directory,
                project=project,
                environments=names,
                connection=connection_from_environ(os.environ),
                force=force,
            )
        )
        click.echo(_summary(result, names), nl=False)
        return
    from reconciler.cli.common import open_target
    from reconciler.safefs import ensure_dir

    if emulator:
        # The embedded emulator keeps its state in DIR/.cxrecon: DIR must exist for it.
        ensure_dir(Path.cwd(), directory.absolute())
    with open_target(names[0], emulator, None, root=directory) as target:
        connection = connection_of(target.settings, emulated=target.emulated)

        async def run() -> InitResult:
            async with connect(target.settings) as client:
                return await init_project(
                    directory,
                    project=project,
                    environments=names,
                    connection=connection,
                    source=client if from_tenant else None,
                    force=force,
                )

        result = asyncio.run(run())
    click.echo(_summary(result, names), nl=False)


def _summary(result: InitResult, environments: tuple[str, ...]) -> str:
    from reconciler.render.escape import terminal

    where = result.root
    lines = [f"Wrote {len(result.written)} file(s) into {where}/:"]
    lines += [f"  {terminal(name)}" for name in result.written]
    if result.gitignore is not None:
        lines.append("  .gitignore (cxrecon's state folder .cxrecon/ and .env added)")
    if result.dump is not None:
        lines += ["", f"{len(result.dump.files)} connector(s) from the tenant in connectors/."]
        lines += [f"  note: {terminal(note)}" for note in result.dump.notes]
    if result.others:
        lines.append(
            f"  {len(result.others)} other connector file(s) in connectors/ were left as they "
            "are and load with these"
        )
    uses = sorted({u for env in environments for u in result.secrets.get(env, ())})
    if uses:
        lines += ["", "The connectors reference these secrets (values never written):"]
        lines += [f"  {terminal(u.text)}" for u in uses]
    first = environments[0]
    go = "" if where == Path(".") else f"cd {terminal(str(where))} && "
    lines += [
        "",
        "Next:",
        f"  {go}cxrecon validate && cxrecon plan -e {terminal(first)}",
        "  commit, push, then create the GitHub environments and secrets README.md lists",
    ]
    return "\n".join(lines) + "\n"
