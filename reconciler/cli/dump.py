"""`cxrecon dump --out DIR`: bootstrap a connectors repository from an existing tenant.

Exit codes: 0 written (validation findings in the tenant's data are printed as warnings),
1 on any error (the directory holds files already, cannot be written, API failure).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

import click

from reconciler.cli.common import emulator_option, environment_option

if TYPE_CHECKING:
    from reconciler.config.project import EnvironmentConfig
    from reconciler.gitops.dump import Dump
    from reconciler.gitops.dump_files import Written
    from reconciler.model import Diagnostic

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
    from reconciler.cli.tenant import list_tenant
    from reconciler.config.project import load_project
    from reconciler.gitops.dump import SCHEMA_PATH, build_dump, schema_ref_for
    from reconciler.gitops.dump_files import check_out_dir, write_dump

    project = load_project()
    env = project.environment(environment)
    check_out_dir(out, project.root)
    remote = list_tenant(environment, emulator, env, project.root)
    reference = schema_ref if schema_ref is not None else schema_ref_for(out, project.root)
    result = build_dump(
        remote,
        schema_ref=reference,
        error_state=error_state,
        policies=project.policies(environment),
    )
    written = write_dump(result, out, force=force, root=project.root)
    findings = _validate(out, result, env)
    text = _summary(result, written, out, findings)
    schema = project.root / SCHEMA_PATH
    if schema_ref is None and result.files and not schema.is_file():
        # The hint must resolve for a pip install too (no schemas/ folder beside the
        # package): the project gets the packaged copy of the schema.
        from reconciler.documents.schema import CONNECTOR_SCHEMA, published_schema_bytes
        from reconciler.safefs import ensure_dir, write_atomic

        ensure_dir(project.root, schema.parent)
        write_atomic(schema, published_schema_bytes(CONNECTOR_SCHEMA), what="schema")
        text += (
            f"\nWrote {SCHEMA_PATH} (cxrecon's connector schema): editors check the files "
            f"against it through their `$schema` line ({reference}).\n"
        )
    click.echo(text, nl=False)


def _validate(out: Path, result: Dump, env: EnvironmentConfig) -> list[Diagnostic]:
    """Load the fresh files as `cxrecon validate` would: what it reports is the tenant's own
    data the linter objects to (the references need no values to validate)."""
    from reconciler.load.desired import load_desired

    if not result.files:
        return []
    loaded = load_desired(out, env)
    ours = {(out / f.file_name).resolve() for f in result.files}
    return [
        d
        for d in loaded.diagnostics
        if d.location is not None and Path(d.location.path).resolve() in ours
    ]


def _summary(result: Dump, written: Written, out: Path, findings: list[Diagnostic]) -> str:
    from reconciler.gitops.dump_names import Reference
    from reconciler.gitops.dump_yaml import ENV_EXAMPLE
    from reconciler.render.escape import terminal

    def rows(refs: tuple[Reference, ...]) -> list[str]:
        width = max(len(r.name) for r in refs)
        return [f"    {r.name:<{width}}  {r.connector}: {r.key}" for r in refs]

    lines = [f"Wrote {len(result.files)} connector file(s) to {out}/."]
    if result.references:
        lines += [
            "",
            "CXone never returns secret credentials, so the files reference them as ${env:NAME}.",
            "`cxrecon validate` and `cxrecon plan` work without them (credentials show as",
            "unknown). Set them to the values CXone uses now before the first `cxrecon apply`",
            "that writes credentials (adopting a connector does); they are listed in "
            f"{out / ENV_EXAMPLE}:",
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
