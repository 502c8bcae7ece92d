"""Loading the desired state: find the connector files, parse them strictly, substitute
${var:} values, check references, schema and lint, and report every problem in one run.

Each file is checked on its own (reconciler.load.checked); what was checked before may be
reused: the controller keeps its files between cycles (`memo`), one-shot runs read them
from the on-disk cache (`cache`). Either way the result is that of checking every file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reconciler.config.project import EnvironmentConfig, Project
from reconciler.errors import ConfigError
from reconciler.load.cache import FileCache
from reconciler.load.checked import CheckedFile, LoadContext, check_file
from reconciler.load.collector import collecting_less
from reconciler.load.files import (
    OUTSIDE_PROJECT,
    DisplayPaths,
    confinement,
    discover,
    read,
    relative_name,
)
from reconciler.load.lint import duplicate_names
from reconciler.model import DesiredConnector, Diagnostic, SourceLocation


@dataclass(frozen=True, slots=True)
class LoadResult:
    """Everything `validate`, `plan` and `apply` need from the desired state."""

    connectors: tuple[DesiredConnector, ...]
    diagnostics: tuple[Diagnostic, ...]
    #: sha256 over the files' relative paths and contents plus the environment's vars.
    digest: str
    files: tuple[Path, ...]
    #: The environment whose ${var:} values built `connectors` and `digest`.
    environment: str | None = None
    #: Every environment the files were checked under (the primary first).
    environments: tuple[str, ...] = ()
    #: Files parsed and checked by this load, and files whose earlier check was reused
    #: (kept from the controller's last cycle, or found in the cache).
    parsed: int = 0
    reused: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "warning")


class FileMemo(Protocol):
    """Checked files kept from an earlier load in this process (reconciler.load.incremental)."""

    def recall(self, file: Path, display: str, context: LoadContext) -> CheckedFile | None:
        """The file as checked before in `context`, when it cannot have changed since (asked
        right before the file would be read); else None."""
        ...

    def keep(self, file: Path, display: str, context: LoadContext, checked: CheckedFile) -> None:
        """Remember how `file` checked now."""
        ...


def raise_if_invalid(result: LoadResult) -> None:
    """ConfigError listing every error when the desired state is not valid."""
    errors = result.errors
    if errors:
        lines = "\n".join(f"  {d}" for d in errors)
        noun = "error" if len(errors) == 1 else "errors"
        raise ConfigError(
            f"the desired state has {len(errors)} {noun}; fix them (run `cxrecon validate`):\n"
            f"{lines}",
            result.diagnostics,
        )


def load_desired(
    path: Path,
    environment: EnvironmentConfig | None = None,
    *,
    strict: bool = False,
    check_environments: Sequence[EnvironmentConfig] = (),
    project: Project | None = None,
    cache: FileCache | None = None,
    memo: FileMemo | None = None,
) -> LoadResult:
    """Load and validate every connector under `path` (a directory or one file).

    Connectors are built with `environment`'s vars. `check_environments` are checked too,
    so a ${var:} missing from any of them is reported (tagged with the environment name).
    Connectors whose file has errors under `environment` are left out; callers refuse unless
    `result.ok`. `project` (the loaded cxrecon.yaml) tailors the advice in messages.
    `cache` and `memo` supply files checked before (see the module docstring).
    """
    with collecting_less():
        return _load(path, environment, strict, check_environments, project, cache, memo)


def _load(
    path: Path,
    environment: EnvironmentConfig | None,
    strict: bool,
    check_environments: Sequence[EnvironmentConfig],
    project: Project | None,
    cache: FileCache | None,
    memo: FileMemo | None,
) -> LoadResult:
    envs = _environments(environment, check_environments)
    primary = envs[0]
    root = project.root if project is not None else Path.cwd()
    context = LoadContext(
        tuple(envs), strict, project_file=project is None or project.file is not None, root=root
    )
    files, diagnostics, confine = _find_files(path, project, root)
    hasher = hashlib.sha256()
    named: list[tuple[str, SourceLocation]] = []
    built: list[DesiredConnector] = []
    in_directory = path.is_dir()
    displayed = DisplayPaths()
    parsed = reused = 0
    for file in files:
        display = displayed(file)
        checked, fresh = _check_one(file, display, context, confine, cache, memo)
        if isinstance(checked, Diagnostic):
            diagnostics.append(checked)
            continue
        if fresh:
            parsed += 1
        else:
            reused += 1
        relative = relative_name(file, path) if in_directory else file.name
        hasher.update(f"{relative}\0{checked.content}\0".encode())
        diagnostics.extend(checked.diagnostics)
        if checked.name is not None and checked.name_location is not None:
            named.append((checked.name, checked.name_location))
        if checked.connector is not None:
            built.append(checked.connector)
    connectors, duplicates = _unique(built, named)
    diagnostics.extend(duplicates)
    variables = dict(primary.vars) if primary is not None else {}
    hasher.update(b"\0vars\0" + json.dumps(variables, sort_keys=True).encode())
    return LoadResult(
        connectors=connectors,
        diagnostics=tuple(sorted(set(diagnostics), key=_order)),
        digest=hasher.hexdigest(),
        files=tuple(files),
        environment=primary.name if primary is not None else None,
        environments=tuple(e.name for e in envs if e is not None),
        parsed=parsed,
        reused=reused,
    )


def _environments(
    environment: EnvironmentConfig | None, check_environments: Sequence[EnvironmentConfig]
) -> list[EnvironmentConfig | None]:
    """The environments to check, the one the connectors are built with first."""
    envs: list[EnvironmentConfig | None] = [environment]
    for extra in check_environments:
        if environment is None or extra.name != environment.name:
            envs.append(extra)
    if environment is None and check_environments:
        envs = list(check_environments)
    return envs


def _find_files(
    path: Path, project: Project | None, root: Path
) -> tuple[list[Path], list[Diagnostic], Path | None]:
    """The connector files under `path`, the problems finding them, and the folder they
    must really be in."""
    configured = project.connectors_location if project is not None else None
    from_project = project is not None and path == project.connectors_path
    confine, outside = confinement(path, root, from_project)
    if outside is not None:
        diagnostic = Diagnostic(
            "error", outside, configured if from_project else None, OUTSIDE_PROJECT
        )
        return [], [diagnostic], confine
    files, diagnostics = discover(path, configured if from_project else None)
    return files, diagnostics, confine


def _check_one(
    file: Path,
    display: str,
    context: LoadContext,
    confine: Path | None,
    cache: FileCache | None,
    memo: FileMemo | None,
) -> tuple[CheckedFile | Diagnostic, bool]:
    """One file checked, from `memo` or `cache` when they have it, and whether it was
    parsed afresh; a Diagnostic when it cannot be read."""
    checked = memo.recall(file, display, context) if memo is not None else None
    if checked is not None:
        return checked, False
    raw = read(file, display, confine)
    if isinstance(raw, Diagnostic):
        return raw, False
    checked = cache.get(raw, display, context) if cache is not None else None
    fresh = checked is None
    if checked is None:
        checked = check_file(raw, display, context)
        if cache is not None:
            cache.put(display, context, checked)
    if memo is not None:
        memo.keep(file, display, context, checked)
    return checked, fresh


def _unique(
    built: list[DesiredConnector], named: list[tuple[str, SourceLocation]]
) -> tuple[tuple[DesiredConnector, ...], list[Diagnostic]]:
    """The connectors whose name no other file uses, and a diagnostic per duplicate."""
    duplicates = duplicate_names(named)
    duplicated = {d.location for d in duplicates}
    connectors = tuple(
        c for c in built if not duplicated or c.location_of("name") not in duplicated
    )
    return connectors, duplicates


def _order(d: Diagnostic) -> tuple[str, int, int, str, str]:
    loc = d.location
    return (
        (loc.path, loc.line, loc.col, d.rule, d.message) if loc else ("", 0, 0, d.rule, d.message)
    )
