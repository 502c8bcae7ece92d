"""Loading the desired state: find the connector files, parse them strictly, substitute
${var:} values, check references, schema and lint, and report every problem in one run.

Each file is checked on its own (reconciler.load.checked); what was checked before may be
reused: the controller keeps its files between cycles (`memo`), one-shot runs read them
from the on-disk cache (`cache`). Either way the result is that of checking every file.
The rest is checked in this process (see `RETIRED_SETTING`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from reconciler.config.project import EnvironmentConfig, Project
from reconciler.errors import ConfigError
from reconciler.hashing import source_digest
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


#: Up to issue 25, how many helper processes shared a large load. Loads run in one process
#: now: the helpers' gain (10-30 % of a large load's wall time on an idle machine, none on a
#: busy one) did not pay for their code, and the standard pool would import modules from the
#: repository under review and leave a process running. Still accepted; it changes nothing.
RETIRED_SETTING: Final = "CXRECON_LOAD_WORKERS"


class FileMemo(Protocol):
    """Checked files kept from an earlier load in this process (reconciler.load.incremental)."""

    def recall(self, file: Path, display: str, context: LoadContext) -> CheckedFile | None:
        """The file as checked before in `context`, when it cannot have changed since (asked
        before the file is read; a load asks about every file before it checks any); else
        None."""
        ...

    def keep(self, file: Path, display: str, context: LoadContext, checked: CheckedFile) -> None:
        """Remember how `file` checked now (after `recall` of it, perhaps of others since)."""
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


def read_desired(
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
    displayed = DisplayPaths()
    shown = [displayed(file) for file in files]
    slots, pending = _reuse(files, shown, context, confine, cache, memo)
    # What nothing had checked before is checked now.
    checked_now = [check_file(raw, shown[i], context) for i, raw in pending]
    for (index, _), checked in zip(pending, checked_now, strict=True):
        if cache is not None:
            cache.put(shown[index], context, checked)
        if memo is not None:
            memo.keep(files[index], shown[index], context, checked)
        slots[index] = checked
    sources: list[tuple[str, str]] = []
    named: list[tuple[str, SourceLocation]] = []
    built: list[DesiredConnector] = []
    in_directory = path.is_dir()
    for file, slot in zip(files, slots, strict=True):
        if isinstance(slot, Diagnostic):
            diagnostics.append(slot)
            continue
        assert slot is not None  # reused above or checked just now
        relative = relative_name(file, path) if in_directory else file.name
        sources.append((relative, slot.content))
        diagnostics.extend(slot.diagnostics)
        if slot.name is not None and slot.name_location is not None:
            named.append((slot.name, slot.name_location))
        if slot.connector is not None:
            built.append(slot.connector)
    connectors, duplicates = _unique(built, named)
    diagnostics.extend(duplicates)
    variables = dict(primary.vars) if primary is not None else {}
    return LoadResult(
        connectors=connectors,
        diagnostics=tuple(sorted(set(diagnostics), key=_order)),
        digest=source_digest(sources, variables),
        files=tuple(files),
        environment=primary.name if primary is not None else None,
        environments=tuple(e.name for e in envs if e is not None),
        parsed=len(pending),
        reused=sum(1 for slot in slots if not isinstance(slot, Diagnostic)) - len(pending),
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


def _reuse(
    files: Sequence[Path],
    shown: Sequence[str],
    context: LoadContext,
    confine: Path | None,
    cache: FileCache | None,
    memo: FileMemo | None,
) -> tuple[list[CheckedFile | Diagnostic | None], list[tuple[int, bytes]]]:
    """Per file, how it checked before (from `memo`, else from `cache` by its bytes) or a
    Diagnostic when it cannot be read; and the bytes of the files left to check (None in
    the first list, their index in the second)."""
    slots: list[CheckedFile | Diagnostic | None] = []
    pending: list[tuple[int, bytes]] = []
    for index, (file, display) in enumerate(zip(files, shown, strict=True)):
        checked = memo.recall(file, display, context) if memo is not None else None
        if checked is None:
            raw = read(file, display, confine)
            if isinstance(raw, Diagnostic):
                slots.append(raw)
                continue
            checked = cache.get(raw, display, context) if cache is not None else None
            if checked is None:
                pending.append((index, raw))
                slots.append(None)
                continue
            if memo is not None:
                memo.keep(file, display, context, checked)
        slots.append(checked)
    return slots, pending


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
