"""`cxrecon dump --out DIR`: bootstrap a connectors repository from an existing tenant.

Exit codes: 0 written (validation findings in the tenant's data are printed as warnings),
1 on any error (the directory holds files already, cannot be written, API failure).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Final

import click

from reconciler.cli.common import emulator_option, environment_option

if TYPE_CHECKING:
    from reconciler.config.project import EnvironmentConfig
    from reconciler.gitops.dump import Dump, Written
    from reconciler.model import Diagnostic

#: `reconciler.gitops.dump.SCHEMA_REF`, spelled out so that `--help` does not load the YAML
#: writer (tests/test_startup.py checks that the two agree).
SCHEMA_REF: Final = "https://cxrecon.dev/schemas/connector.schema.json"


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
    default=SCHEMA_REF,
    show_default=True,
    help="Schema location for the `# yaml-language-server: $schema=` line (path or URL).",
)
def dump(
    out: Path,
    environment: str | None,
    emulator: bool,
    force: bool,
    error_state: str,
    schema_ref: str,
) -> None:
    """Write one YAML file per connector in the tenant into --out.

    Credentials come back masked from CXone, so secrets are written as ${env:NAME} and
    other credential values as ${var:NAME} references; the names are listed at the end,
    in .env.example and in .cxrecon-vars.example.yaml. Then `cxrecon plan` shows every
    connector as `adopt` with no field changes.
    """
    # Imported here, not at the top: `cxrecon dump --help` needs none of them.
    from reconciler.cli.tenant import list_tenant
    from reconciler.config.project import load_project
    from reconciler.gitops.dump import build_dump, check_out_dir, write_dump

    project = load_project()
    env = project.environment(environment)
    check_out_dir(out)
    remote = list_tenant(environment, emulator, env)
    result = build_dump(remote, schema_ref=schema_ref, error_state=error_state)
    written = write_dump(result, out, environment=environment or env.name, force=force)
    findings = _validate(out, result, env)
    click.echo(_summary(result, written, out, environment or env.name, findings), nl=False)


def _validate(out: Path, result: Dump, env: EnvironmentConfig) -> list[Diagnostic]:
    """Load the fresh files with stand-ins for the credential vars: what is left is the
    tenant's own data the linter objects to."""
    from reconciler.gitops.dump import stand_in_vars
    from reconciler.load.desired import load_desired

    if not result.files:
        return []
    checking = dataclasses.replace(env, vars={**env.vars, **stand_in_vars(result)})
    loaded = load_desired(out, checking)
    ours = {(out / f.file_name).resolve() for f in result.files}
    return [
        d
        for d in loaded.diagnostics
        if d.location is not None and Path(d.location.path).resolve() in ours
    ]


def _summary(
    result: Dump, written: Written, out: Path, environment: str, findings: list[Diagnostic]
) -> str:
    from reconciler.gitops.dump import ENV_EXAMPLE, VARS_EXAMPLE

    lines = [f"Wrote {len(result.files)} connector file(s) to {out}/."]
    secrets = result.of_kind("env")
    if secrets:
        lines += ["", f"Secrets to set before `cxrecon apply` (listed in {out / ENV_EXAMPLE}):"]
        width = max(len(r.name) for r in secrets)
        lines += [f"  {r.name:<{width}}  {r.connector}: {r.key}" for r in secrets]
    plain = result.of_kind("var")
    if plain:
        lines += [
            "",
            f"Values to add under environments.{environment}.vars in cxrecon.yaml "
            f"(listed in {out / VARS_EXAMPLE}):",
        ]
        width = max(len(r.name) for r in plain)
        lines += [f"  {r.name:<{width}}  {r.connector}: {r.key}" for r in plain]
    notes = list(result.notes)
    if written.others:
        notes.append(
            f"{len(written.others)} other connector file(s) in {out} were left as they are "
            f"({', '.join(p.name for p in written.others[:3])}…) and load with these"
        )
    if notes:
        lines += ["", "Notes:"] + [f"  {n}" for n in notes]
    if findings:
        lines += [
            "",
            f"The tenant's data has {len(findings)} validation finding(s); fix them in the "
            "files before `cxrecon plan`:",
        ]
        lines += [f"  {d}" for d in findings]
    if result.files:
        lines += [
            "",
            "Next: fill in the values above, then `cxrecon plan` — each connector shows as "
            "`adopt` with no field changes. `cxrecon apply` then labels them managed-by=cxrecon "
            "and writes their credentials (with the values you set).",
        ]
    return "\n".join(lines) + "\n"
