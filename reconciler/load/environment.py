"""A connector file as one environment sees it: the document walked for references —
`${var:}` values substituted, secret and credential references checked where they are written
(the file, or the override in cxrecon.yaml that sets them; the rules are
reconciler.load.references) — and the environment's overrides (JSON merge patches) merged in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from reconciler.config.overrides import Override
from reconciler.documents.yamlload import LoadedDocument
from reconciler.load.references import (
    RefProblem,
    check_credential_field,
    check_secret_field,
    is_secret_reference,
    reference_target_problems,
    substitute_vars,
)
from reconciler.model import Diagnostic, merge_patch
from reconciler.secret import is_masked_field, looks_secret

Path_ = tuple[str | int, ...]


#: Where an override put each field, kept in the data it built (never sent to CXone).
OVERRIDDEN_KEY: Final = "\0overridden"


@dataclass(frozen=True, slots=True)
class Overridden:
    """A connector's data with its environment's overrides merged in, and what checking
    their values found."""

    data: Any
    #: The paths the overrides set (the plan marks them).
    paths: tuple[tuple[str, ...], ...]
    #: The file's document, except that what an override set is located in cxrecon.yaml:
    #: every later finding about such a value points at the override's line.
    document: LoadedDocument
    found: tuple[Diagnostic, ...] = ()
    #: Where the values' reference problems are (the schema and lint say no more there).
    ref_paths: frozenset[Path_] = frozenset()


def with_overrides(
    data: Any,
    document: LoadedDocument,
    overrides: Sequence[Override],
    variables: Mapping[str, str] | None,
    project_file: bool = True,
    root: Path | None = None,
) -> Overridden:
    """`data` (the file's, `${var:}` substituted) with every matching environment override
    merged in (RFC 7396). Each override's values get the environment's `${var:}` values and
    the checks the file's own get (secret fields, references and what they may reach),
    before they are merged: apply sends them as it sends the file's."""
    name = data.get("name") if isinstance(data, dict) else None
    matching = [o for o in overrides if isinstance(name, str) and o.applies(name)]
    if not matching:
        return Overridden(data, (), document)
    locations = dict(document.locations)
    key_locations = dict(document.key_locations)
    paths: list[tuple[str, ...]] = []
    found: list[Diagnostic] = []
    ref_paths: set[Path_] = set()
    for override in matching:
        values = override.document(document.path)
        substitution = Substitution(values, variables, project_file, root)
        data = merge_patch(data, substitution.value(override.patch, [], None))
        found.extend(substitution.found)
        ref_paths.update(substitution.ref_paths)
        for leaf in _leaves(override.patch, ()):
            paths.append(leaf)
            for where in (locations, key_locations):
                for path in [p for p in where if p[: len(leaf)] == leaf]:
                    del where[path]  # the file's value there is replaced (or removed)
            locations[leaf] = values.location_of(leaf)
            locations.update(
                (path, at) for path, at in override.locations.items() if path[: len(leaf)] == leaf
            )
    located = LoadedDocument(document.path, document.data, locations, key_locations)
    return Overridden(data, tuple(paths), located, tuple(found), frozenset(ref_paths))


def _leaves(patch: Mapping[str, Any], parts: tuple[str, ...]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for key, value in patch.items():
        here = (*parts, str(key))
        if isinstance(value, dict) and value:
            out.extend(_leaves(value, here))
        else:
            out.append(here)
    return out


class Substitution:
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
            if in_labels and len(path) == 1 and looks_secret(k) and v not in (None, ""):
                path.append(k)
                self.problem(_secret_label(k), path)
                path.pop()
                continue
            # A credential is secret when the schema marks it writeOnly (or does not know
            # it); elsewhere (an unknown key, which the schema refuses too) a secret-looking
            # name with a literal is said to be a committed secret too, so it gets rotated.
            secret = is_masked_field(k) if in_credentials else not in_labels and looks_secret(k)
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
        value, or a value with `${var:}` substituted (references.check_credential_field)."""
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


def credential_references(data: Any) -> set[Path_]:
    """Paths of credentials that are one whole `${env:}` / `${file:}` reference. Their form
    (an https URL, a header name) is known only once apply resolves them, so the schema's
    checks of the value's form do not apply to them (the reference's own form and target
    are checked by reconciler.load.references)."""
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


def _diag(rule: str, message: str, path: Path_, document: LoadedDocument) -> Diagnostic:
    return Diagnostic("error", message, document.location_of(path), rule)
