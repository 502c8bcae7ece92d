"""A tenant dumped into connector files (`cxrecon dump`): the folder checked before the tenant
is read, every file written or none, then loaded as `validate` would load it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from reconciler.config.project import EnvironmentConfig, Project
from reconciler.config.settings import ConnectionSettings
from reconciler.cxone.client import CxoneClient
from reconciler.documents.schema import CONNECTOR_SCHEMA, published_schema_bytes
from reconciler.facade.oneshot import TenantOpener
from reconciler.gitops.dump import SCHEMA_PATH, Dump, build_dump, schema_ref_for
from reconciler.gitops.dump_files import Written, check_out_dir, write_dump
from reconciler.gitops.dump_yaml import ENV_EXAMPLE
from reconciler.load.desired import read_desired
from reconciler.model import Diagnostic, RemoteConnector
from reconciler.safefs import ensure_dir, write_atomic


@dataclass(frozen=True)
class DumpRun:
    """What `dump_into` wrote, and what to tell about it."""

    dump: Dump
    written: Written
    #: The validation findings in the tenant's own data, in the files just written.
    findings: tuple[Diagnostic, ...]
    #: The `$schema` line's location, and the schema copied into the project (None: none).
    schema_ref: str
    schema_written: str | None
    #: Where the `${env:NAME}` variables the files reference are listed.
    env_example: Path


def dump_into(
    project: Project,
    out: Path,
    tenant: TenantOpener,
    *,
    environment: str | None = None,
    force: bool = False,
    error_state: str = "ACTIVE",
    schema_ref: str | None = None,
) -> DumpRun:
    """Write one connector file per connector of the tenant `tenant` opens into `out`
    (existing files only with `force`; connectors CXone reports in ERROR get `error_state`);
    the project's ignore rules leave their fields out. `schema_ref` defaults to the path from
    `out` to the project's schema, which is then copied there when missing (a pip install
    has no schemas/ folder beside the package)."""
    env = project.environment(environment)
    check_out_dir(out, project.root)
    with tenant(env) as settings:
        remote = asyncio.run(_list(settings))
    reference = schema_ref if schema_ref is not None else schema_ref_for(out, project.root)
    result = build_dump(
        remote,
        schema_ref=reference,
        error_state=error_state,
        policies=project.policies(environment),
    )
    written = write_dump(result, out, force=force, root=project.root)
    findings = _validate(out, result, env)
    schema = project.root / SCHEMA_PATH
    copied = None
    if schema_ref is None and result.files and not schema.is_file():
        ensure_dir(project.root, schema.parent)
        write_atomic(schema, published_schema_bytes(CONNECTOR_SCHEMA), what="schema")
        copied = SCHEMA_PATH
    return DumpRun(result, written, findings, reference, copied, out / ENV_EXAMPLE)


async def _list(settings: ConnectionSettings) -> list[RemoteConnector]:
    async with CxoneClient(settings) as client:
        return await client.list_connectors()


def _validate(out: Path, result: Dump, env: EnvironmentConfig) -> tuple[Diagnostic, ...]:
    """Load the fresh files as `cxrecon validate` would: what it reports is the tenant's own
    data the linter objects to (the references need no values to validate)."""
    if not result.files:
        return ()
    loaded = read_desired(out, env)
    ours = {(out / f.file_name).resolve() for f in result.files}
    return tuple(
        d
        for d in loaded.diagnostics
        if d.location is not None and Path(d.location.path).resolve() in ours
    )
