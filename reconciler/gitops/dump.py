"""`cxrecon dump`: turn a tenant's connectors into a connectors repository, one YAML file each,
schema-valid and deterministic, with credentials as references and never as values.

Decisions (README "Adopting cxrecon on a live tenant"):
- Secret credentials (the keys the connector schema marks `writeOnly`: password,
  clientSecret, apiKey) are write-only in CXone: reads return a mask. Each becomes a
  `${env:CONNECTOR_KEY}` reference, listed in `.env.example` and in the summary; so does a
  plain credential a server masked anyway (older servers mask every one). Every other
  credential (username, clientId, tokenEndpoint, scope, …) CXone returns and the dump writes
  as it is, so adopting a tenant needs one variable per secret value. A dump validates and
  plans as it is (secrets are `unknown` until their values are set), and apply asks for
  them only where it writes credentials (adopting a connector does), naming each one that
  is missing.
- Variable names never name cxrecon's or the CI runner's own (`CXONE_*`, `GITHUB_*`, …:
  load.references refuses those); such a connector's names get a `CRM_` prefix.
- A connector in ERROR is written as the state apply should move it to (`--error-state`,
  ACTIVE by default: "retry"), with a comment saying so; the plan shows that transition.
- syncSettings keys equal to the server's defaults are left out (the planner fills them in);
  server-managed fields and cxrecon's own labels (managed-by, cxrecon.io/*) are left out.
  A connector another cxrecon project manages (its cxrecon.io/project label) is noted: this
  project manages it only under the same `project:` id (or with `--take-ownership`).
- File names are slugs of the connector name; on a collision every later name (by name, then
  id) gets a suffix from a hash of its name, so the result does not depend on listing order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from reconciler.config.policies import Policies
from reconciler.gitops.dump_names import Names, Reference, credential_refs
from reconciler.gitops.dump_yaml import SCHEMA_REF, LeaveOut, render_connector
from reconciler.model import LABEL_MANAGED_BY, LABEL_PROJECT, MANAGED_BY_VALUE, RemoteConnector
from reconciler.plan.policy import matcher

__all__ = ["SCHEMA_ID", "SCHEMA_PATH", "Dump", "DumpedFile", "build_dump"]

#: Where the schema lives inside a project, and its published `$id`. (SCHEMA_REF, the
#: default `$schema` line, is the path from a connectors/ folder one below the project.)
SCHEMA_PATH: Final = "schemas/connector.schema.json"
SCHEMA_ID: Final = "https://cxrecon.dev/schemas/connector.schema.json"


@dataclass(frozen=True, slots=True)
class DumpedFile:
    file_name: str
    connector: str
    connector_id: str
    text: str


@dataclass(frozen=True)
class Dump:
    """What `write_dump` puts on disk; `notes` are things the user must look at."""

    files: tuple[DumpedFile, ...]
    references: tuple[Reference, ...]
    notes: tuple[str, ...]

    @property
    def secrets(self) -> tuple[Reference, ...]:
        return tuple(r for r in self.references if r.secret)

    @property
    def plain(self) -> tuple[Reference, ...]:
        """References to values that are not secret (client ids, token URLs, user names)."""
        return tuple(r for r in self.references if not r.secret)

    def env_example(self) -> str:
        lines = [
            "# Values the connectors in this directory reference as ${env:NAME} (cxrecon dump).",
            "# CXone never returns secret credentials. `cxrecon validate` and `cxrecon plan` work",
            "# without them (credentials show as unknown); set each one (shell, CI secret store,",
            "# a git-ignored .env) to the value CXone uses now before the first `cxrecon apply`",
            "# that writes credentials (adopting a connector does). Never commit values.",
        ]
        if self.secrets:
            lines += ["", "# Secrets"]
        for ref in self.secrets:
            lines += [f"# {ref.connector}: authentication.credentials.{ref.key}", f"{ref.name}="]
        if self.plain:
            lines += [
                "",
                "# Not secret, but masked by this CXone: you may also write these values into",
                "# the connector files instead of the references.",
            ]
        for ref in self.plain:
            lines += [f"# {ref.connector}: authentication.credentials.{ref.key}", f"{ref.name}="]
        return "\n".join(lines) + "\n"


def build_dump(
    remote: Iterable[RemoteConnector],
    *,
    schema_ref: str = SCHEMA_REF,
    error_state: str = "ACTIVE",
    policies: Policies | None = None,
) -> Dump:
    """Render every connector; pure (no I/O), deterministic for a given tenant state.

    Fields the project's ignoreDifferences rules (`policies`, for the dumped environment)
    leave to CXone are not written, so git never claims them (required ones stay)."""
    ordered = sorted(remote, key=lambda r: (r.name, r.id))
    counts: dict[str, int] = {}
    for r in ordered:
        counts[r.name] = counts.get(r.name, 0) + 1
    names = Names()
    files: list[DumpedFile] = []
    references: list[Reference] = []
    notes: list[str] = []
    projects: dict[str, list[str]] = {}
    left_out = 0
    for r in ordered:
        file_name = names.file(r.name)
        refs = credential_refs(r.spec, r.id, names)
        references.extend(refs.values())
        header: list[str] = []
        if counts[r.name] > 1:
            text = (
                f"{counts[r.name]} connectors named {r.name!r} exist in CXone (this is id "
                f"{r.id}); rename all but one in CXone, or delete all but one of their files"
            )
            header.append(text)
            notes.append(f"{file_name}: {text}")
        owner = r.spec.labels.get(LABEL_MANAGED_BY)
        if owner is not None and owner != MANAGED_BY_VALUE:
            notes.append(
                f"{file_name}: {r.name} is labelled managed-by={owner}; cxrecon will not adopt "
                "it until that label is removed in CXone"
            )
        project = r.spec.labels.get(LABEL_PROJECT)
        if owner == MANAGED_BY_VALUE and project:
            projects.setdefault(project, []).append(file_name)
        state_note = None
        if r.spec.lifecycle_status == "ERROR":
            state_note = (
                f"CXone reports ERROR; written as {error_state}, the state `cxrecon apply`\n"
                "# moves it to (ACTIVE retries it; INACTIVE keeps it stopped)."
            )
            notes.append(f"{file_name}: {r.name} is in ERROR in CXone; written as {error_state}")
        leave_out, counted = _ignored(policies, r.name)
        text = render_connector(
            r.spec,
            refs,
            schema_ref=schema_ref,
            header=header,
            lifecycle=error_state if state_note else r.spec.lifecycle_status,
            lifecycle_note=state_note,
            leave_out=leave_out,
        )
        left_out += len(counted)
        files.append(DumpedFile(file_name, r.name, r.id, text))
    notes.extend(_closing_notes(projects, left_out))
    return Dump(tuple(files), tuple(references), tuple(notes))


def _closing_notes(projects: dict[str, list[str]], left_out: int) -> list[str]:
    """The notes about the whole dump: other cxrecon projects' connectors, fields left out."""
    notes: list[str] = []
    for project, file_names in sorted(projects.items()):
        shown = ", ".join(file_names[:3]) + (" …" if len(file_names) > 3 else "")
        notes.append(
            f"{len(file_names)} connector(s) ({shown}) are managed by cxrecon project "
            f"{project!r}: set `project: {project}` in cxrecon.yaml to go on managing them "
            "from here (a plan under another project id reports them as that project's)"
        )
    if left_out:
        notes.append(
            f"{left_out} field(s) left out of the files: ignoreDifferences in cxrecon.yaml "
            "leaves them to CXone"
        )
    return notes


def _ignored(policies: Policies | None, name: str) -> tuple[LeaveOut, set[tuple[str, ...]]]:
    """What the ignore rules leave out of one connector's file, and a record of each path
    left out (to count them)."""
    rules = policies.for_connector(name).ignore if policies is not None else ()
    seen: set[tuple[str, ...]] = set()
    if not rules:
        return (lambda parts: False), seen
    ignored = matcher(rules)

    def leave_out(parts: tuple[str, ...]) -> bool:
        if ignored(parts):
            seen.add(parts)
            return True
        return False

    return leave_out, seen


def schema_ref_for(out: Path, root: Path) -> str:
    """The relative path from `out` to `root`/schemas/connector.schema.json (`root`: the
    project folder), or the schema's published `$id` when there is none (another drive)."""
    try:
        relative = os.path.relpath(root.resolve() / SCHEMA_PATH, out.resolve())
    except ValueError:
        return SCHEMA_ID
    return Path(relative).as_posix()
