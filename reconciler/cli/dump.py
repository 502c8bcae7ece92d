"""`cxrecon dump --out DIR`: bootstrap a connectors repository from an existing tenant.

Exit codes: 0 written (validation findings in the tenant's data are printed as warnings),
1 on any error (the directory holds files already, cannot be written, API failure).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

import click

from reconciler.cli.common import emulator_option, environment_option, tenant_of

if TYPE_CHECKING:
    from reconciler.facade.dumping import DumpRun

#: `reconciler.gitops.dump.SCHEMA_REF`, spelled out so that `--help` does not load the YAML
#: writer (tests/test_startup.py checks that the two agree).
SCHEMA_REF: Final = "../schemas/connector.schema.json"


@click.command()
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory to write the connector files to (created if missing).",
)
@environment_option
@emulator_option
@click.option("--force", is_flag=True, help="Overwrite files that already exist in --out.")
@click.option(
    "--error-state",
    type=click.Choice(["ACTIVE", "INACTIVE"]),
    default="ACTIVE",
    show_default=True,
    help="State to write for connectors CXone reports in ERROR (ACTIVE: apply retries them).",
)
@click.option(
    "--schema-ref",
    default=None,
    help=(
        "Schema location for the `# yaml-language-server: $schema=` line (path or URL). "
        "Default: the path from --out to schemas/connector.schema.json in the project folder "
        f"({SCHEMA_REF} for connectors/)."
    ),
)
def dump(
    out: Path,
    environment: str | None,
    emulator: bool,
    force: bool,
    error_state: str,
    schema_ref: str | None,
) -> None:
    """Write one YAML file per connector in the tenant into --out.

    Credentials come back masked from CXone, so every credential value is written as an
    ${env:NAME} reference; the names are listed at the end and in .env.example. The files
    validate and plan as they are: `cxrecon plan` shows each connector as `adopt` with no
    field changes (credentials unknown); set the variables before the first apply.
    """
    # Imported here, not at the top: `cxrecon dump --help` needs none of them.
    from reconciler.facade import open_project
    from reconciler.facade.dumping import dump_into

    project = open_project()
    run = dump_into(
        project,
        out,
        tenant_of(environment, emulator, project.root),
        environment=environment,
        force=force,
        error_state=error_state,
        schema_ref=schema_ref,
    )
    text = _summary(run, out)
    if run.schema_written is not None:
        text += (
            f"\nWrote {run.schema_written} (cxrecon's connector schema): editors check the "
            f"files against it through their `$schema` line ({run.schema_ref}).\n"
        )
    click.echo(text, nl=False)


class _Reference(Protocol):
    """A `${env:NAME}` the dumped files use (reconciler.gitops.dump_names.Reference)."""

    @property
    def name(self) -> str: ...
    @property
    def connector(self) -> str: ...
    @property
    def key(self) -> str: ...


def _summary(run: DumpRun, out: Path) -> str:
    from reconciler.render.escape import terminal

    def rows(refs: Sequence[_Reference]) -> list[str]:
        width = max(len(r.name) for r in refs)
        return [f"    {r.name:<{width}}  {r.connector}: {r.key}" for r in refs]

    result, written, findings = run.dump, run.written, run.findings
    lines = [f"Wrote {len(result.files)} connector file(s) to {out}/."]
    if result.references:
        lines += [
            "",
            "CXone never returns secret credentials, so the files reference them as ${env:NAME}.",
            "`cxrecon validate` and `cxrecon plan` work without them (credentials show as",
            "unknown). Set them to the values CXone uses now before the first `cxrecon apply`",
            "that writes credentials (adopting a connector does); they are listed in "
            f"{run.env_example}:",
        ]
    if result.secrets:
        lines += ["  Secrets:", *rows(result.secrets)]
    if result.plain:
        lines += [
            "  Not secret but masked by this CXone (you may write the values in the files):",
            *rows(result.plain),
        ]
    notes = list(result.notes)
    if written.others:
        notes.append(
            f"{len(written.others)} other connector file(s) in {out} were left as they are "
            f"({', '.join(p.name for p in written.others[:3])}…) and load with these"
        )
    if notes:
        lines += ["", "Notes:"] + [f"  {n}" for n in notes]
    if findings:
        errors = sum(1 for d in findings if d.severity == "error")
        lines += [
            "",
            f"The tenant's data has {len(findings)} validation finding(s); fix them in the "
            "files before `cxrecon plan`:"
            if errors
            # What CXone holds validates: lint only warns about what it takes.
            else f"Lint warns about {len(findings)} value(s) CXone holds (validate passes; "
            "`--strict` would refuse them):",
        ]
        lines += [f"  {d}" for d in findings]
    if result.files:
        lines += [
            "",
            "Next: `cxrecon validate` and `cxrecon plan`: each connector shows as `adopt` with",
            "no field changes. Then set the variables above and `cxrecon apply`: it labels the",
            "connectors managed-by=cxrecon and writes their credentials (with the values you set).",
        ]
    return "".join(terminal(line) + "\n" for line in lines)
