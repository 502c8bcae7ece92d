"""The facade's adoption half: `init_project` turns a folder (and, if asked, a live tenant)
into a team's connectors repository: cxrecon.yaml, connectors/, workflows, README.

Every file is written or none: what exists already is listed and refused unless `force`,
everything is checked before the tenant is read, and the files are renamed into place only
once all are written whole (reconciler.safefs). `.gitignore` is completed, never replaced.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from reconciler.config.identity import PROJECT_ID_PATTERN
from reconciler.config.project import PROJECT_FILE
from reconciler.config.settings import EMULATOR_CLIENT_ID, SETTING_NAMES, ConnectionSettings
from reconciler.documents.schema import CONNECTOR_SCHEMA, PROJECT_SCHEMA, published_schema_bytes
from reconciler.errors import ConfigError, DumpError
from reconciler.facade.planning import ConnectorSource, dump_tenant
from reconciler.gitops.dump import SCHEMA_PATH, Dump
from reconciler.gitops.init_files import PROJECT_SCHEMA as PROJECT_SCHEMA_PATH
from reconciler.gitops.init_files import Connection, env_example, gitignore, project_yaml, readme
from reconciler.gitops.workflows import WORKFLOW_DIR, SecretUse, render_workflows
from reconciler.safefs import ensure_dir, read_bytes, refuse_links, write_all_atomic

#: The folder of connector files in a new project.
CONNECTORS_DIR: Final = "connectors"
#: The address `cxrecon emulator serve` listens on by default.
EMULATOR_BASE_URL: Final = "http://127.0.0.1:8787/api/v2"
_REFERENCE: Final = re.compile(r"\$\{(env|file):([^}\s]+)\}")
#: A git-kept marker in an empty connectors folder (git keeps no empty folder).
KEEP: Final = ".gitkeep"


@dataclass(frozen=True)
class InitResult:
    """What `init_project` wrote (paths relative to `root`), and the tenant's dump if read."""

    root: Path
    written: tuple[str, ...]
    #: `.gitignore` was created or completed (None: it had every line already).
    gitignore: str | None
    dump: Dump | None
    #: The references the connectors make, per environment (the workflows map these).
    secrets: Mapping[str, tuple[SecretUse, ...]]
    #: Connector files already in the connectors folder that init did not write.
    others: tuple[str, ...] = ()


def connection_of(settings: ConnectionSettings, *, emulated: bool) -> Connection:
    """The non-secret part of `settings`, as cxrecon.yaml records it."""
    if emulated:
        return Connection(base_url=EMULATOR_BASE_URL, client_id=EMULATOR_CLIENT_ID, emulated=True)
    discovery = settings.discovery.url if settings.discovery is not None else None
    return Connection(
        base_url=settings.base_url or None,
        token_url=settings.token_url or None,
        client_id=settings.client_id,
        grant=settings.grant,
        username=settings.username,
        discovery=discovery,
    )


def connection_from_environ(environ: Mapping[str, str]) -> Connection | None:
    """The non-secret connection settings the process environment names (CXONE_BASE_URL,
    CXONE_CLIENT_ID, …), without needing the secret; None when it names none."""

    def get(name: str) -> str | None:
        return environ.get(SETTING_NAMES[name][0]) or None

    scopes = get("scopes")
    found = Connection(
        base_url=(get("base_url") or "").rstrip("/") or None,
        token_url=get("token_url"),
        client_id=get("client_id"),
        grant=get("grant"),
        username=get("username"),
        scopes=tuple(scopes.replace(",", " ").split()) if scopes else (),
        discovery=get("discovery_url"),
    )
    return found if found.keys() else None


def check_init(directory: Path, *, project: str, environments: Sequence[str], force: bool) -> None:
    """Fail before anything is read or written: a bad name, a folder that cannot hold the
    project, or (without `force`) files that exist already."""
    if PROJECT_ID_PATTERN.fullmatch(project) is None:
        raise ConfigError(
            f"--project {project!r} is not a project id; use 1-63 letters, digits, '.', '_' "
            "and '-', starting and ending with a letter or digit"
        )
    if not environments:
        raise ConfigError("cxrecon init needs at least one environment: pass -e NAME")
    if len(set(environments)) != len(environments):
        raise ConfigError("-e names an environment twice; name each one once")
    render_workflows(environments, {})  # refuses a name a workflow cannot carry
    if directory.exists() and not directory.is_dir():
        raise DumpError(f"{directory} is a file; pass a folder for the new project")
    refuse_links(Path.cwd(), directory.absolute())
    # What init reads or completes in place is refused as a link before anything is fetched
    # or written (the repository is input: a committed link must not be read through).
    for name in (".gitignore", CONNECTORS_DIR):
        refuse_links(directory, directory / name)
    if not force:
        _refuse_existing(directory, _fixed_files())


async def init_project(
    directory: Path,
    *,
    project: str,
    environments: Sequence[str],
    connection: Connection | None = None,
    source: ConnectorSource | None = None,
    force: bool = False,
) -> InitResult:
    """Write the project into `directory` (created if missing); with `source`, the tenant's
    connectors as `dump` writes them. `connection` is the first environment's (the one
    `source` reads). DumpError listing the files that exist (without `force`)."""
    check_init(directory, project=project, environments=environments, force=force)
    dump = await dump_tenant(source) if source is not None else None
    dumped = dump.files if dump is not None else ()
    connector_files = {f"{CONNECTORS_DIR}/{f.file_name}": f.text for f in dumped}
    found = {SecretUse("env", r.name) for r in (dump.references if dump else ())}
    # Connector files already there (a repository that adopts cxrecon's workflows) keep
    # theirs: their references are mapped too.
    kept = _others(directory / CONNECTORS_DIR, set(connector_files))
    for name in kept:
        refuse_links(directory, directory / CONNECTORS_DIR / name)
        text = read_bytes(directory / CONNECTORS_DIR / name).decode("utf-8", "replace")
        found |= references_in(text)
    uses = tuple(sorted(found))
    secrets = {name: uses for name in environments}
    files: dict[str, str] = {
        PROJECT_FILE: project_yaml(project, environments, connection, f"{CONNECTORS_DIR}/"),
        ".env.example": env_example(environments, secrets, connection),
        "README.md": readme(
            project,
            environments,
            secrets,
            f"{CONNECTORS_DIR}/",
            environments[:1] if connection is not None else (),
        ),
        **{
            f"{WORKFLOW_DIR}/{name}": text
            for name, text in render_workflows(
                environments, secrets, connectors=f"{CONNECTORS_DIR}/"
            ).items()
        },
        **(connector_files or ({} if kept else {f"{CONNECTORS_DIR}/{KEEP}": ""})),
    }
    if not force:
        _refuse_existing(directory, list(files))
    if dumped and not (directory / SCHEMA_PATH).exists():
        # What the connector files' `$schema` line points at, also for a pip install.
        files[SCHEMA_PATH] = published_schema_bytes(CONNECTOR_SCHEMA).decode("utf-8")
    if not (directory / PROJECT_SCHEMA_PATH).exists():
        # What cxrecon.yaml's `$schema` line points at (offline, for a pip install too).
        files[PROJECT_SCHEMA_PATH] = published_schema_bytes(PROJECT_SCHEMA).decode("utf-8")
    ignore_path = directory / ".gitignore"
    ignore = gitignore(
        read_bytes(ignore_path).decode("utf-8", "replace") if ignore_path.is_file() else None,
        [use.name for use in uses if use.kind == "file"],
    )
    if ignore is not None:
        files[".gitignore"] = ignore
    _write(directory, files)
    written = tuple(sorted(name for name in files if name != ".gitignore"))
    return InitResult(
        root=directory,
        written=written,
        gitignore=ignore,
        dump=dump,
        secrets=secrets,
        others=kept,
    )


def references_in(text: str) -> set[SecretUse]:
    """The `${env:}` / `${file:}` references of a connector file's text, comments left out."""
    found: set[SecretUse] = set()
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        found |= {SecretUse(kind, name) for kind, name in _REFERENCE.findall(line)}
    return found


def _fixed_files() -> list[str]:
    from reconciler.gitops.workflows import WORKFLOW_FILES

    return [
        PROJECT_FILE,
        ".env.example",
        "README.md",
        *(f"{WORKFLOW_DIR}/{name}" for name in WORKFLOW_FILES),
    ]


def _refuse_existing(directory: Path, names: Sequence[str]) -> None:
    existing = [n for n in names if (directory / n).exists() or (directory / n).is_symlink()]
    if not existing:
        return
    shown = ", ".join(existing[:6]) + (
        f" and {len(existing) - 6} more" if len(existing) > 6 else ""
    )
    raise DumpError(
        f"{len(existing)} file(s) already exist in {directory}: {shown}; pass --force to "
        "overwrite them, or choose another folder"
    )


def _write(directory: Path, files: Mapping[str, str]) -> None:
    base = Path.cwd() if directory.absolute().is_relative_to(Path.cwd()) else directory.parent
    root = directory.absolute()
    for name in files:  # before any folder is made: a refusal leaves nothing behind
        refuse_links(root, root / name)
    try:
        ensure_dir(base.absolute(), root)
        for folder in sorted({(root / name).parent for name in files}):
            ensure_dir(root, folder)
    except OSError as exc:
        raise DumpError(
            f"cannot create {directory}: {exc.strerror or exc}; choose another folder"
        ) from None
    write_all_atomic(
        [(root / name, text.encode("utf-8")) for name, text in files.items()],
        what="project file",
    )


def _others(folder: Path, ours: set[str]) -> tuple[str, ...]:
    if not folder.is_dir():
        return ()
    return tuple(
        sorted(
            p.name
            for p in folder.iterdir()
            if p.suffix in (".yaml", ".yml") and f"{CONNECTORS_DIR}/{p.name}" not in ours
        )
    )
