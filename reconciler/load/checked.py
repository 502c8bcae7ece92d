"""What one connector file loads to (`CheckedFile`: its diagnostics and, when valid, its
connector) under a `LoadContext`: the file's bytes and the context decide it entirely, which
is what lets the controller keep it between cycles and one-shot runs cache it on disk."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from sys import intern
from typing import Any, Final

from reconciler.config.overrides import Override
from reconciler.config.project import EnvironmentConfig
from reconciler.documents.schema import connector_checker, to_diagnostic
from reconciler.documents.yamlload import LoadedDocument, parse_yaml
from reconciler.hashing import sha256_hex
from reconciler.load.environment import (
    OVERRIDDEN_KEY,
    Substitution,
    credential_references,
    with_overrides,
)
from reconciler.load.lint import lint_connector, place
from reconciler.load.lint_values import secrets_in_urls
from reconciler.model import (
    Authentication,
    ConnectorSpec,
    DesiredConnector,
    Diagnostic,
    FieldMapping,
    SourceLocation,
    SyncSettings,
    shared_mapping,
)

_VAR_NAMES: Final = re.compile(rb"(?<!\$)\$\{var:([^}]*)\}")
#: `${file:PATH}` anywhere (in a file's bytes or a ${var:} value): what it may reach depends
#: on the file system (links), not only on the bytes.
_FILE_REFS: Final = re.compile(r"\$\{file:([^}]+)\}")

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class CheckedFile:
    """One connector file, loaded: every finding about it and, when it has no error in the
    primary environment, its connector."""

    #: sha256 of the file's bytes (the load's digest is built from these).
    content: str
    diagnostics: tuple[Diagnostic, ...]
    #: The `name:` it declares (duplicates across files are found from these), and where.
    name: str | None = None
    name_location: SourceLocation | None = None
    connector: DesiredConnector | None = None
    #: Where its `${file:}` references led when it was checked (LoadContext.reach).
    reach: str = ""


@dataclass(frozen=True)
class LoadContext:
    """Everything besides a file's bytes that decides what it loads to: the environments it
    is checked under (the primary first), --strict, whether cxrecon.yaml exists, and the
    project folder `${file:}` references must stay inside."""

    envs: tuple[EnvironmentConfig | None, ...]
    strict: bool = False
    project_file: bool = True
    root: Path | None = None

    @cached_property
    def fingerprint(self) -> str:
        """A sha256 naming this context (part of every cache key)."""
        envs = [
            None
            if env is None
            else [env.name, sorted(env.vars.items()), [repr(o) for o in env.overrides]]
            for env in self.envs
        ]
        root = None if self.root is None else os.path.realpath(self.root)
        text = json.dumps([envs, self.strict, self.project_file, root], default=repr)
        return sha256_hex(text.encode())

    @cached_property
    def _var_file_refs(self) -> tuple[str, ...]:
        # A ${var:} value may bring a ${file:} reference into a file that writes none.
        found = {
            name
            for env in self.envs
            if env is not None
            for value in env.vars.values()
            for name in _FILE_REFS.findall(value)
        }
        return tuple(sorted(found))

    def reach(self, data: Any) -> str:
        """Where the `${file:}` references in a parsed document (or its vars) lead now, links
        resolved: "" when there are none. Checking them depends on this, not on the bytes.
        Read from the parsed values, never the bytes: YAML escapes (`"\\u0024{file:…}"`)
        would hide a reference from a scan of the bytes."""
        if self.root is None:
            return ""
        names = set(self._var_file_refs)
        names.update(name for text in _strings(data) for name in _FILE_REFS.findall(text))
        return self._reach_of(sorted(names))

    def still_reaches(self, reach: str) -> bool:
        """Whether the references behind `reach` (from `reach()`) still lead where they did."""
        if not reach:
            return True
        try:
            names = [name for name, _ in json.loads(reach)]
        except (ValueError, TypeError):
            return False
        return self._reach_of(names) == reach

    def _reach_of(self, names: Sequence[str]) -> str:
        if not names or self.root is None:
            return ""
        base = os.path.realpath(self.root)
        return json.dumps([[name, os.path.realpath(os.path.join(base, name))] for name in names])


def _strings(data: Any) -> Iterator[str]:
    """Every string in a parsed document, keys included."""
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _may_reference_files(raw: bytes) -> bool:
    """Whether the parsed document may hold a `${file:}` reference. The bytes are UTF-8
    (parse_yaml refuses anything else), so without one written out YAML can only make one
    from an escape (a backslash in a double-quoted scalar); folding only adds spaces and
    line breaks. Walking every string of every file was a tenth of a cold load."""
    return b"${file:" in raw or b"\\" in raw


def content_hash(raw: bytes) -> str:
    return sha256_hex(raw)


def check_file(raw: bytes, display: str, context: LoadContext) -> CheckedFile:
    """Parse, substitute, check references, schema and lint one file's bytes (`display`:
    how messages name the file)."""
    content = content_hash(raw)
    parsed = parse_yaml(raw, display)
    if parsed.document is None:
        return CheckedFile(content, parsed.diagnostics, reach=context.reach(None))
    reach = context.reach(parsed.document.data if _may_reference_files(raw) else None)
    name, connector, found = _check_file(
        parsed.document, raw, context.envs, context.strict, context.project_file, context.root
    )
    # `connector` is None when the file has errors in the primary environment.
    clean = not any(d.severity == "error" for d in parsed.diagnostics)
    return CheckedFile(
        content,
        (*parsed.diagnostics, *found),
        name,
        parsed.document.location_of(("name",)) if name is not None else None,
        connector if clean else None,
        reach,
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
        connector = build_connector(primary_data, document.location_of(()), document.locations)
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
    # Every check below sees what apply would send: the file's values and the environment's
    # overrides, each located where it is written (the file, or cxrecon.yaml).
    merged = with_overrides(data, document, overrides, variables, project_file, root)
    data, located = merged.data, merged.document
    found = [*substitution.found, *merged.found]
    ref_paths = substitution.ref_paths | merged.ref_paths
    for leak in secrets_in_urls(data):
        if leak.path not in ref_paths:
            # Before the schema, whose messages would repeat the value.
            ref_paths.add(leak.path)
            found.append(place(leak, located))
    schema_paths: set[Path_] = set()
    references = credential_references(data)
    for finding in connector_checker().findings(data):
        if finding.path in ref_paths and not finding.at_key:
            continue  # the reference problem says it better
        if finding.path in references and not finding.at_key:
            continue  # a reference's value is checked by apply, once resolved
        schema_paths.add(finding.path)
        found.append(to_diagnostic(finding, located))
    suppress = ref_paths | {p for p in schema_paths if p}
    for lint in lint_connector(data, located):
        if not _under_any(lint.path, suppress):
            found.append(place(lint, located))
    if strict:
        found = [replace(d, severity="error") if d.severity == "warning" else d for d in found]
    if merged.paths:
        data = {**data, OVERRIDDEN_KEY: merged.paths}
    return data, found


def _under_any(path: Path_, prefixes: Iterable[Path_]) -> bool:
    return any(path[: len(p)] == p for p in prefixes)


def build_connector(
    data: Any,
    source: SourceLocation,
    locations: Mapping[Path_, SourceLocation],
    mappings: tuple[FieldMapping, ...] | None = None,
) -> DesiredConnector | None:
    """The typed connector; only called for data the schema accepted (or the cache wrote).
    `mappings`, when given, are used instead of `data["mappings"]` (the cache stores them
    ready to build)."""
    if not isinstance(data, dict):
        return None
    auth = data["authentication"]
    sync = data.get("syncSettings")
    if mappings is None:
        mappings = tuple(_mapping(m) for m in data["mappings"])
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
        mappings=mappings,
        sync_settings=None if sync is None else SyncSettings.from_api(sync),
        version=intern(data.get("version", "1.0.0")),
        labels={intern(k): intern(v) for k, v in (data.get("labels") or {}).items()},
    )
    return DesiredConnector(
        spec=spec,
        source=source,
        locations=locations,
        management=str(data.get("management", "full")),
        previous_names=tuple(data.get("previousNames") or ()),
        overridden=tuple(tuple(p) for p in data.get(OVERRIDDEN_KEY, ())),
    )


def _mapping(data: Mapping[str, str]) -> FieldMapping:
    return shared_mapping(
        data["cxoneField"], data["crmField"], data["direction"], data.get("transformation")
    )
