"""Loading the desired state: find the connector files, parse them strictly, substitute
${var:} values, check references, schema and lint, and report every problem in one run.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from sys import intern
from typing import Any, Final

from reconciler.config.overrides import Override
from reconciler.config.project import EnvironmentConfig, Project
from reconciler.documents.schema import connector_checker, to_diagnostic
from reconciler.documents.yamlload import LoadedDocument, parse_yaml
from reconciler.errors import ConfigError
from reconciler.load.files import (
    OUTSIDE_PROJECT,
    DisplayPaths,
    confinement,
    discover,
    read,
)
from reconciler.load.lint import duplicate_names, lint_connector, place, secrets_in_urls
from reconciler.load.substitute import (
    OVERRIDDEN_KEY,
    Substitution,
    credential_references,
    overridden,
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
    confine, outside = confinement(path, root, from_project)
    if outside is not None:
        files: list[Path] = []
        diagnostics = [
            Diagnostic("error", outside, configured if from_project else None, OUTSIDE_PROJECT)
        ]
    else:
        files, diagnostics = discover(path, configured if from_project else None)
    hasher = hashlib.sha256()
    named: list[tuple[str, SourceLocation]] = []
    built: list[DesiredConnector] = []
    in_directory = path.is_dir()
    displayed = DisplayPaths()
    for file in files:
        display = displayed(file)
        raw = read(file, display, confine)
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


def _order(d: Diagnostic) -> tuple[str, int, int, str, str]:
    loc = d.location
    return (
        (loc.path, loc.line, loc.col, d.rule, d.message) if loc else ("", 0, 0, d.rule, d.message)
    )


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
    substitution = Substitution(document, variables, project_file, root)
    data = substitution.value(document.data, [], None)
    data, overridden_paths = overridden(data, overrides)
    found = substitution.found
    ref_paths = substitution.ref_paths
    for leak in secrets_in_urls(data):
        if leak.path not in ref_paths:
            # Before the schema, whose messages would repeat the value.
            ref_paths.add(leak.path)
            found.append(place(leak, document))
    schema_paths: set[Path_] = set()
    references = credential_references(data)
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
    if overridden_paths:
        data = {**data, OVERRIDDEN_KEY: overridden_paths}
    return data, found


def _under_any(path: Path_, prefixes: Iterable[Path_]) -> bool:
    return any(path[: len(p)] == p for p in prefixes)


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
