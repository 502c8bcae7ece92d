"""Loading the desired state: find the connector files, parse them strictly, substitute
${var:} values, check references, schema and lint, and report every problem in one run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from sys import intern
from typing import Any, Final

from reconciler.config.overrides import Override
from reconciler.config.project import EnvironmentConfig, Project
from reconciler.documents.schema import connector_checker, to_diagnostic
from reconciler.documents.yamlload import MAX_FILE_BYTES, LoadedDocument, parse_yaml
from reconciler.errors import ConfigError
from reconciler.load.lint import duplicate_names, lint_connector, place, secrets_in_urls
from reconciler.load.refs import (
    RefProblem,
    check_credential_field,
    check_secret_field,
    is_secret_reference,
    reference_target_problems,
    substitute_vars,
)
from reconciler.model import (
    Authentication,
    ConnectorSpec,
    DesiredConnector,
    Diagnostic,
    FieldMapping,
    SourceLocation,
    SyncSettings,
)
from reconciler.secret import is_secret_field

SUFFIXES: Final = (".yaml", ".yml")
#: The rule of a connector file (or folder) that is, or links to, a place out of the project.
OUTSIDE_PROJECT: Final = "file-outside-project"
#: The rule of a connector path that is a pipe, socket, device or folder.
NOT_A_REGULAR_FILE: Final = "not-a-regular-file"
_VAR_NAMES: Final = re.compile(rb"(?<!\$)\$\{var:([^}]*)\}")

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class LoadResult:
    """Everything `validate`, `plan` and `apply` need from the desired state."""

    connectors: tuple[DesiredConnector, ...]
    diagnostics: tuple[Diagnostic, ...]
    #: sha256 over the files' relative paths and bytes plus the environment's vars.
    digest: str
    files: tuple[Path, ...]
    #: The environment whose ${var:} values built `connectors` and `digest`.
    environment: str | None = None
    #: Every environment the files were checked under (the primary first).
    environments: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "warning")


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
) -> LoadResult:
    """Load and validate every connector under `path` (a directory or one file).

    Connectors are built with `environment`'s vars. `check_environments` are checked too,
    so a ${var:} missing from any of them is reported (tagged with the environment name).
    Connectors whose file has errors under `environment` are left out; callers refuse unless
    `result.ok`. `project` (the loaded cxrecon.yaml) tailors the advice in messages.
    """
    project_file = project is None or project.file is not None
    envs: list[EnvironmentConfig | None] = [environment]
    for extra in check_environments:
        if environment is None or extra.name != environment.name:
            envs.append(extra)
    if environment is None and check_environments:
        envs = list(check_environments)
    primary = envs[0]
    configured = project.connectors_location if project is not None else None
    from_project = project is not None and path == project.connectors_path
    root = project.root if project is not None else Path.cwd()
    confine, outside = _confinement(path, root, from_project)
    if outside is not None:
        files: list[Path] = []
        diagnostics = [
            Diagnostic("error", outside, configured if from_project else None, OUTSIDE_PROJECT)
        ]
    else:
        files, diagnostics = _discover(path, configured if from_project else None)
    hasher = hashlib.sha256()
    named: list[tuple[str, SourceLocation]] = []
    built: list[DesiredConnector] = []
    in_directory = path.is_dir()
    displayed = _DisplayPaths()
    for file in files:
        display = displayed(file)
        raw = _read(file, display, confine)
        if isinstance(raw, Diagnostic):
            diagnostics.append(raw)
            continue
        relative = file.relative_to(path).as_posix() if in_directory else file.name
        hasher.update(f"{relative}\0{len(raw)}\0".encode())
        hasher.update(raw)
        parsed = parse_yaml(raw, display)
        diagnostics.extend(parsed.diagnostics)
        if parsed.document is None:
            continue
        name, connector, file_diagnostics = _check_file(
            parsed.document, raw, envs, strict, project_file, root
        )
        diagnostics.extend(file_diagnostics)
        if name is not None:
            named.append((name, parsed.document.location_of(("name",))))
        # `connector` is None when the file has errors in the primary environment.
        clean = not any(d.severity == "error" for d in parsed.diagnostics)
        if connector is not None and clean:
            built.append(connector)
    duplicates = duplicate_names(named)
    diagnostics.extend(duplicates)
    duplicated = {d.location for d in duplicates}
    connectors = tuple(c for c in built if c.location_of("name") not in duplicated)
    variables = dict(primary.vars) if primary is not None else {}
    hasher.update(b"\0vars\0" + json.dumps(variables, sort_keys=True).encode())
    return LoadResult(
        connectors=connectors,
        diagnostics=tuple(sorted(set(diagnostics), key=_order)),
        digest=hasher.hexdigest(),
        files=tuple(files),
        environment=primary.name if primary is not None else None,
        environments=tuple(e.name for e in envs if e is not None),
    )


def display_path(path: Path) -> str:
    """How a file is named in messages: relative to the working directory when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


class _DisplayPaths:
    """`display_path` for many files: the working directory and each folder resolved once
    (resolving every file walks every component of its path: 0.3 s for 10,000 files)."""

    def __init__(self) -> None:
        self._cwd = Path.cwd().resolve()
        self._folders: dict[Path, Path] = {}

    def __call__(self, path: Path) -> str:
        # A link is named as itself (where it is in the repository), not by its target.
        folder = self._folders.get(path.parent)
        if folder is None:
            folder = self._folders[path.parent] = path.parent.resolve()
        resolved = folder / path.name
        try:
            return resolved.relative_to(self._cwd).as_posix()
        except ValueError:
            return path.as_posix()


def _order(d: Diagnostic) -> tuple[str, int, int, str, str]:
    loc = d.location
    return (
        (loc.path, loc.line, loc.col, d.rule, d.message) if loc else ("", 0, 0, d.rule, d.message)
    )


def _confinement(path: Path, root: Path, from_project: bool) -> tuple[Path | None, str | None]:
    """The folder every connector file must really be in (links resolved), and why `path`
    itself may not be read, if so.

    A path inside the project folder (as written) must stay inside it once its links are
    resolved, and so must every file under it: a linked file cannot bring /etc/passwd or a
    runner's credentials into the desired state. `connectors:` in cxrecon.yaml must name a
    folder inside the project. A path given outside the project (on the command line) is
    the caller's choice: files under it stay inside it.
    """
    if _inside(Path(os.path.abspath(path)), Path(os.path.abspath(root))):
        base = os.path.realpath(root)
        if not _inside(Path(os.path.realpath(path)), Path(base)):
            return None, (
                f"{display_path(path)} is a symbolic link out of the project folder (the "
                "folder of cxrecon.yaml); connector files are read only from inside it"
            )
        return Path(base), None
    if from_project:
        return None, (
            f"connectors folder {display_path(path)} is outside the project folder (the "
            "folder of cxrecon.yaml); `connectors:` must name a folder inside it"
        )
    return (Path(os.path.realpath(path)) if path.is_dir() else None), None


def _inside(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or under it (both absolute; no links resolved here)."""
    try:
        return os.path.commonpath([folder, path]) == str(folder)
    except ValueError:  # different drives
        return False


def _discover(path: Path, configured: SourceLocation | None) -> tuple[list[Path], list[Diagnostic]]:
    """The connector files under `path`; `configured` is where cxrecon.yaml names it."""
    if path.is_file():
        return [path], []
    if not path.is_dir():
        if path.exists() or path.is_symlink():
            # A named pipe, socket or device, or a link to one: `_read` says what it is.
            return [path], []
        if configured is not None:
            message = (
                f"connectors directory {display_path(path)} does not exist; create it, or "
                "fix `connectors:` here (relative to cxrecon.yaml)"
            )
            return [], [Diagnostic("error", message, configured, "input")]
        message = f"{display_path(path)} does not exist; pass a connectors directory or file"
        return [], [Diagnostic("error", message, None, "input")]
    found: list[Path] = []
    diagnostics: list[Diagnostic] = []
    # os.walk without following links: no cycles, and hidden directories (.git) are skipped.
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in dirnames:
            if name.endswith(SUFFIXES):
                folder = Path(dirpath) / name
                message = (
                    "is a folder, not a connector file; its files are read like any other "
                    "folder's (rename it so it does not look like a file)"
                )
                where = SourceLocation(display_path(folder), 1, 1)
                diagnostics.append(Diagnostic("warning", message, where, NOT_A_REGULAR_FILE))
        for name in filenames:
            # Names only: pipes, sockets and devices are listed too, and refused by `_read`.
            if name.endswith(SUFFIXES) and not name.startswith("."):
                found.append(Path(dirpath) / name)
    found.sort(key=lambda p: p.relative_to(path).as_posix())
    if not found:
        message = f"no connector files (*.yaml, *.yml) under {display_path(path)}"
        return [], [*diagnostics, Diagnostic("warning", message, None, "input")]
    return found, diagnostics


#: Opening never waits (a named pipe with no writer would block forever) and never follows
#: a link the checks before it did not see.
_OPEN_FLAGS: Final = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def _read(file: Path, display: str, confine: Path | None) -> bytes | Diagnostic:
    """The bytes of one connector file; a Diagnostic for anything that is not a regular
    file of sensible size (checked before opening, and again on what was opened), or that
    links out of `confine`."""
    where = SourceLocation(display, 1, 1)
    try:
        info = os.lstat(file)
        target = file
        if stat.S_ISLNK(info.st_mode):
            target = Path(os.path.realpath(file))
            if confine is not None and not _inside(target, confine):
                message = (
                    "is a symbolic link to a file outside the project folder (the folder of "
                    "cxrecon.yaml): not read; keep connector files inside the project"
                )
                return Diagnostic("error", message, where, OUTSIDE_PROJECT)
            info = os.stat(target)
        if not stat.S_ISREG(info.st_mode):
            return _not_regular(info.st_mode, where)
        # Checked before reading: a huge file is refused without loading it into memory.
        if info.st_size > MAX_FILE_BYTES:
            return _too_large(info.st_size, where)
        descriptor = os.open(target, _OPEN_FLAGS)
        with os.fdopen(descriptor, "rb") as handle:
            opened = os.fstat(handle.fileno())
            if not stat.S_ISREG(opened.st_mode):  # replaced since the check above
                return _not_regular(opened.st_mode, where)
            raw = handle.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:  # grew since the check above
            return _too_large(len(raw), where)
        return raw
    except OSError as exc:
        return Diagnostic("error", f"cannot read file: {exc.strerror or exc}", where, "input")


def _not_regular(mode: int, where: SourceLocation) -> Diagnostic:
    if stat.S_ISFIFO(mode):
        kind = "a named pipe (FIFO)"
    elif stat.S_ISSOCK(mode):
        kind = "a socket"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "a device"
    elif stat.S_ISDIR(mode):
        kind = "a folder"
    else:
        kind = "a special file"
    message = (
        f"is {kind}, not a regular file: skipped without reading it; connector files are "
        "plain files (remove it, or rename it so it does not end in .yaml/.yml)"
    )
    return Diagnostic("error", message, where, NOT_A_REGULAR_FILE)


def _too_large(size: int, where: SourceLocation) -> Diagnostic:
    message = f"file is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit"
    return Diagnostic("error", message, where, "yaml-size")


def _check_file(
    document: LoadedDocument,
    raw: bytes,
    envs: Sequence[EnvironmentConfig | None],
    strict: bool,
    project_file: bool,
    root: Path | None = None,
) -> tuple[str | None, DesiredConnector | None, list[Diagnostic]]:
    """Check one document under each distinct set of var values; build the primary's spec."""
    used = sorted({m.decode("utf-8", "replace") for m in _VAR_NAMES.findall(raw)})
    groups: dict[tuple[str | None, ...], list[EnvironmentConfig | None]] = {}
    for env in envs:
        values = tuple(env.vars.get(n) if env is not None else None for n in used)
        # Environments missing a var are told which vars they do define: keep them apart.
        defined = tuple(sorted(env.vars)) if env is not None and None in values else ()
        # Environments with overrides differ by them too.
        patches = tuple(repr(o) for o in env.overrides) if env is not None else ()
        groups.setdefault((*values, *defined, *patches), []).append(env)
    results: list[tuple[list[EnvironmentConfig | None], Any, list[Diagnostic]]] = []
    for members in groups.values():
        env = members[0]
        variables = None if env is None else env.vars
        overrides = () if env is None else env.overrides
        data, found = _check_document(document, variables, strict, project_file, root, overrides)
        results.append((members, data, found))
    connector: DesiredConnector | None = None
    primary_data = results[0][1]
    primary_errors = any(d.severity == "error" for d in results[0][2])
    if not primary_errors:
        connector = _build(primary_data, document)
    name = primary_data.get("name") if isinstance(primary_data, dict) else None
    name = name if isinstance(name, str) else None
    if len(results) == 1:
        return name, connector, results[0][2]
    # A finding in every group is about the file; one in some groups names the environments.
    merged: list[Diagnostic] = []
    everywhere = set.intersection(*(set(found) for _, _, found in results))
    merged.extend(everywhere)
    for members, _, found in results:
        names = ", ".join(e.name for e in members if e is not None)
        for d in found:
            if d not in everywhere:
                merged.append(replace(d, message=f"{d.message} [environment: {names}]"))
    return name, connector, merged


def _check_document(
    document: LoadedDocument,
    variables: Mapping[str, str] | None,
    strict: bool,
    project_file: bool = True,
    root: Path | None = None,
    overrides: Sequence[Override] = (),
) -> tuple[Any, list[Diagnostic]]:
    substitution = _Substitution(document, variables, project_file, root)
    data = substitution.value(document.data, [], None)
    data, overridden = _overridden(data, overrides)
    found = substitution.found
    ref_paths = substitution.ref_paths
    for leak in secrets_in_urls(data):
        if leak.path not in ref_paths:
            # Before the schema, whose messages would repeat the value.
            ref_paths.add(leak.path)
            found.append(place(leak, document))
    schema_paths: set[Path_] = set()
    references = _credential_references(data)
    for finding in connector_checker().findings(data):
        if finding.path in ref_paths and not finding.at_key:
            continue  # the reference problem says it better
        if finding.path in references and not finding.at_key:
            continue  # a reference's value is checked by apply, once resolved
        schema_paths.add(finding.path)
        found.append(to_diagnostic(finding, document))
    suppress = ref_paths | {p for p in schema_paths if p}
    for lint in lint_connector(data, document):
        if not _under_any(lint.path, suppress):
            found.append(place(lint, document))
    if strict:
        found = [replace(d, severity="error") if d.severity == "warning" else d for d in found]
    if overridden:
        data = {**data, OVERRIDDEN_KEY: overridden}
    return data, found


#: Where an override put each field, kept in the data it built (never sent to CXone).
OVERRIDDEN_KEY: Final = "\0overridden"


def _overridden(
    data: Any, overrides: Sequence[Override]
) -> tuple[Any, tuple[tuple[str, ...], ...]]:
    """`data` with every matching environment override merged in (RFC 7396), and the paths
    they set (the plan marks them)."""
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not overrides:
        return data, ()
    paths: list[tuple[str, ...]] = []
    for override in overrides:
        if override.applies(name):
            data = merge_patch(data, override.patch)
            paths.extend(_leaves(override.patch, ()))
    return data, tuple(paths)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge recursively, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _leaves(patch: Mapping[str, Any], parts: tuple[str, ...]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for key, value in patch.items():
        here = (*parts, str(key))
        if isinstance(value, dict) and value:
            out.extend(_leaves(value, here))
        else:
            out.append(here)
    return out


class _Substitution:
    """`${var:}` values substituted into a document's data, secret fields checked.

    Returns the data itself where nothing changes (the loaded data is never modified);
    `path` is one list pushed and popped while walking, copied only into a finding.
    """

    __slots__ = ("document", "found", "project_file", "ref_paths", "root", "variables")

    def __init__(
        self,
        document: LoadedDocument,
        variables: Mapping[str, str] | None,
        project_file: bool = True,
        root: Path | None = None,
    ) -> None:
        self.document = document
        self.variables = variables
        self.project_file = project_file
        #: The project folder `${file:}` paths must stay inside (None: not checked).
        self.root = root
        self.ref_paths: set[Path_] = set()
        self.found: list[Diagnostic] = []

    def value(self, value: Any, path: list[str | int], key: str | None) -> Any:
        if isinstance(value, str):
            return self.string(value, path, key) if "${" in value else value
        if isinstance(value, dict):
            return self.mapping(value, path)
        if isinstance(value, list):
            out: list[Any] | None = None
            for index, item in enumerate(value):
                if isinstance(item, str) and "${" not in item:
                    continue  # most values: nothing to substitute, no path to extend
                path.append(index)
                new = self.value(item, path, key)
                path.pop()
                if new is not item:
                    out = list(value) if out is None else out
                    out[index] = new
            return value if out is None else out
        return value

    def mapping(self, value: dict[str, Any], path: list[str | int]) -> dict[str, Any]:
        in_labels = bool(path) and path[0] == "labels"
        in_credentials = path == _CREDENTIALS_PATH
        out: dict[str, Any] | None = None
        for k, v in value.items():
            if in_labels and len(path) == 1 and is_secret_field(k) and v not in (None, ""):
                path.append(k)
                self.problem(_secret_label(k), path)
                path.pop()
                continue
            secret = not in_labels and is_secret_field(k)
            if not secret and (
                not isinstance(v, str | dict | list) or (isinstance(v, str) and "${" not in v)
            ):
                continue  # most values: nothing to substitute, no path to extend
            path.append(k)
            if secret:
                problem = check_secret_field(k, v, self.root)
                if problem is not None:
                    self.problem(problem, path)
            else:
                if in_credentials and isinstance(v, str):
                    new = self.credential(v, path, k)
                else:
                    new = self.value(v, path, k)
                if new is not v:
                    out = dict(value) if out is None else out
                    out[k] = new
            path.pop()
        return value if out is None else out

    def string(self, value: str, path: list[str | int], key: str | None) -> str:
        new, problems = substitute_vars(
            key or "value", value, self.variables, project_file=self.project_file
        )
        if not problems:
            # A ${var:} value (or `$${`) may have brought a reference in: it must not reach
            # cxrecon's own credentials or files out of the project either.
            problems = reference_target_problems(new, self.root)
        for problem in problems:
            self.problem(problem, path)
        return new

    def credential(self, value: str, path: list[str | int], key: str) -> str:
        """A credential that is not secret-bearing: `${env:}` / `${file:}` as its whole
        value, or a value with `${var:}` substituted (refs.check_credential_field)."""
        new, problems = check_credential_field(
            key, value, self.variables, project_file=self.project_file, root=self.root
        )
        for problem in problems:
            self.problem(problem, path)
        return new

    def problem(self, problem: RefProblem, path: list[str | int]) -> None:
        where = tuple(path)
        self.ref_paths.add(where)
        self.found.append(_diag(problem.rule, problem.message, where, self.document))


#: Where credential values live in a connector document.
_CREDENTIALS_PATH: Final[list[str | int]] = ["authentication", "credentials"]


def _credential_references(data: Any) -> set[Path_]:
    """Paths of credentials that are one whole `${env:}` / `${file:}` reference. Their form
    (an https URL, a header name) is known only once apply resolves them, so the schema's
    checks of the value's form do not apply to them (the reference's own form and target
    are checked by refs)."""
    auth = data.get("authentication") if isinstance(data, dict) else None
    credentials = auth.get("credentials") if isinstance(auth, dict) else None
    if not isinstance(credentials, dict):
        return set()
    return {
        ("authentication", "credentials", key)
        for key, value in credentials.items()
        if isinstance(value, str) and is_secret_reference(value)
    }


def _secret_label(key: str) -> RefProblem:
    return RefProblem(
        "secret-literal",
        f"label '{key}' is named like a secret, but labels are stored and shown in clear (in "
        "CXone and in every plan); keep secrets in authentication.credentials as "
        "${env:NAME} references, and rename or remove this label",
    )


def _under_any(path: Path_, prefixes: Iterable[Path_]) -> bool:
    return any(path[: len(p)] == p for p in prefixes)


def _diag(rule: str, message: str, path: Path_, document: LoadedDocument) -> Diagnostic:
    return Diagnostic("error", message, document.location_of(path), rule)


def _build(data: Any, document: LoadedDocument) -> DesiredConnector | None:
    """The typed connector; only called for data the schema accepted."""
    if not isinstance(data, dict):
        return None
    auth = data["authentication"]
    sync = data.get("syncSettings")
    spec = ConnectorSpec(
        name=data["name"],
        description=data.get("description"),
        lifecycle_status=intern(data["lifecycleStatus"]),
        connector_type=intern(data["connectorType"]),
        endpoint_url=data["endpointUrl"],
        authentication=Authentication(
            type=intern(auth["type"]),
            credentials={intern(k): v for k, v in auth["credentials"].items()},
        ),
        mappings=tuple(_mapping(m) for m in data["mappings"]),
        sync_settings=None if sync is None else SyncSettings.from_api(sync),
        version=intern(data.get("version", "1.0.0")),
        labels={intern(k): intern(v) for k, v in (data.get("labels") or {}).items()},
    )
    return DesiredConnector(
        spec=spec,
        source=document.location_of(()),
        locations=document.locations,
        management=str(data.get("management", "full")),
        previous_names=tuple(data.get("previousNames") or ()),
        overridden=data.get(OVERRIDDEN_KEY, ()),
    )


def _mapping(data: Mapping[str, str]) -> FieldMapping:
    # Field names, directions and transformations repeat across thousands of connectors:
    # one shared string each instead of a copy per mapping (~40 MB at 10,000 connectors).
    transformation = data.get("transformation")
    return FieldMapping(
        cxone_field=intern(data["cxoneField"]),
        crm_field=intern(data["crmField"]),
        direction=intern(data["direction"]),
        transformation=None if transformation is None else intern(transformation),
    )
