"""Environment overrides (`environments.NAME.overrides` in cxrecon.yaml): JSON merge patches
for the connectors whose names match, where each of their values is written in cxrecon.yaml,
and their check against the connector schema there. The loader (reconciler.load.checked)
applies them and checks what they set like the connector file's own values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from reconciler.documents.schema import partial_connector_checker
from reconciler.documents.yamlload import LoadedDocument
from reconciler.model import Diagnostic, SourceLocation

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Override:
    """One entry of `environments.NAME.overrides`: a merge patch for matching connectors."""

    connectors: str  # a glob on connector names
    patch: Mapping[str, Any]
    location: SourceLocation | None = None
    #: Where each value of `patch` is written in cxrecon.yaml, by its path in the patch (a
    #: plain dict, so that an environment pickles).
    locations: Mapping[Path_, SourceLocation] = field(default_factory=dict)

    @classmethod
    def at(
        cls,
        glob: str,
        patch: Mapping[str, Any],
        base: Path_,
        locations: Mapping[Path_, SourceLocation],
    ) -> Override:
        """The override whose patch is at `base` in cxrecon.yaml (`locations`: the project
        document's, by path), with the locations of its values."""
        size = len(base)
        inside = {
            path[size:]: where
            for path, where in locations.items()
            if len(path) > size and path[:size] == base
        }
        return cls(glob, patch, locations.get(base), inside)

    def applies(self, name: str) -> bool:
        return fnmatchcase(name, self.connectors)

    def document(self, fallback: str) -> LoadedDocument:
        """The patch as a document whose locations are in cxrecon.yaml (`fallback`: the
        path named when the override's own location is unknown)."""
        where = self.location or SourceLocation(fallback, 1, 1)
        return LoadedDocument(where.path, self.patch, {(): where, **self.locations})


def check_overrides(document: LoadedDocument) -> list[Diagnostic]:
    """Each override's values against the connector schema (every key optional, as a merge
    patch may set just one), at their line in cxrecon.yaml."""
    data = document.data
    envs = data.get("environments") if isinstance(data, dict) else None
    out: list[Diagnostic] = []
    for env_name, env in envs.items() if isinstance(envs, dict) else ():
        overrides = env.get("overrides") if isinstance(env, dict) else None
        for glob, patch in overrides.items() if isinstance(overrides, dict) else ():
            base: tuple[str | int, ...] = ("environments", env_name, "overrides", glob)
            if not isinstance(patch, dict):
                continue  # the project schema reports it
            if "name" in patch:
                out.append(
                    Diagnostic(
                        "error",
                        "an override cannot change a connector's name; rename it in its "
                        "file (with previousNames) instead",
                        document.key_locations.get((*base, "name"))
                        or document.location_of((*base, "name")),
                        "override",
                    )
                )
            present = {k: v for k, v in patch.items() if v is not None and k != "name"}
            for finding in partial_connector_checker().findings(present):
                location = document.key_locations.get((*base, *finding.path)) or (
                    document.location_of((*base, *finding.path))
                )
                message = f"override for {glob!r} in {env_name}: {finding.message}"
                out.append(Diagnostic("error", message, location, "override"))
    return out
