"""`cxrecon dump`: turn a tenant's connectors into a connectors repository, one YAML file each,
schema-valid and deterministic, with credentials as references and never as values.

Decisions (README "Adopting cxrecon on a live tenant"):
- Credentials are write-only in CXone: reads return a mask. Every masked value becomes a
  `${env:CONNECTOR_KEY}` reference, secret-bearing keys (password, clientSecret, apiKey, …)
  and plain ones (username, clientId, tokenEndpoint, scope, …) alike, listed in
  `.env.example` and in the summary. So a dump validates and plans as it is: the plan cannot
  compare credential values anyway (they are `unknown` until the values are set), and apply
  asks for them only where it writes credentials (adopting a connector does), naming each
  one that is missing. A value the API does return in clear is kept.
- Variable names never name cxrecon's or the CI runner's own (`CXONE_*`, `GITHUB_*`, …:
  load.refs refuses those); such a connector's names get a `CRM_` prefix.
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

import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from reconciler.documents.yamlwrite import escape_literal, yaml_scalar
from reconciler.errors import DumpError
from reconciler.load.refs import is_reserved_variable
from reconciler.model import (
    CONNECTOR_FIELDS,
    DEFAULT_SYNC_SETTINGS,
    LABEL_MANAGED_BY,
    LABEL_PROJECT,
    MANAGED_BY_VALUE,
    MAPPING_FIELDS,
    ConnectorSpec,
    RemoteConnector,
)
from reconciler.plan.essence import is_owned_label
from reconciler.secret import MASK, is_secret_field

#: Where editors find the connector schema from a connector file: the project's
#: `schemas/connector.schema.json`, relative, as this repository's own connectors/*.yaml
#: write it. This is the default for files one folder below the project folder;
#: `cxrecon dump` works out the path for its --out (`schema_ref_for`), `--schema-ref`
#: overrides it (a path or a URL such as SCHEMA_ID).
SCHEMA_REF: Final = "../schemas/connector.schema.json"
#: Where the schema lives inside a project, and its published `$id`.
SCHEMA_PATH: Final = "schemas/connector.schema.json"
SCHEMA_ID: Final = "https://cxrecon.dev/schemas/connector.schema.json"
ENV_EXAMPLE: Final = ".env.example"
#: Prefix for a variable name that would otherwise be one of cxrecon's or the CI runner's.
RESERVED_PREFIX_ESCAPE: Final = "CRM_"

#: Credential keys in the schema's order per authentication type; unknown keys follow, sorted.
_CREDENTIAL_ORDER: Final = {
    "BASIC": ("username", "password"),
    "OAUTH2": ("tokenEndpoint", "clientId", "clientSecret", "scope", "audience"),
    "API_KEY": ("apiKey", "headerName"),
}


@dataclass(frozen=True, slots=True)
class Reference:
    """A credential CXone did not return, written as `${env:NAME}`; `secret` tells a
    secret-bearing key (clientSecret, password…) from a plain one (clientId, username…)."""

    name: str
    connector: str
    key: str
    secret: bool

    @property
    def text(self) -> str:
        return "${env:" + self.name + "}"


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
            "# CXone never returns credential values. `cxrecon validate` and `cxrecon plan` work",
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
                "# Not secret: you may also write these values into the connector files",
                "# instead of the references.",
            ]
        for ref in self.plain:
            lines += [f"# {ref.connector}: authentication.credentials.{ref.key}", f"{ref.name}="]
        return "\n".join(lines) + "\n"


def build_dump(
    remote: Iterable[RemoteConnector],
    *,
    schema_ref: str = SCHEMA_REF,
    error_state: str = "ACTIVE",
) -> Dump:
    """Render every connector; pure (no I/O), deterministic for a given tenant state."""
    ordered = sorted(remote, key=lambda r: (r.name, r.id))
    counts: dict[str, int] = {}
    for r in ordered:
        counts[r.name] = counts.get(r.name, 0) + 1
    names = _Names()
    files: list[DumpedFile] = []
    references: list[Reference] = []
    notes: list[str] = []
    projects: dict[str, list[str]] = {}
    for r in ordered:
        file_name = names.file(r.name)
        refs = _credential_refs(r.spec, r.id, names)
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
        text = render_connector(
            r.spec,
            refs,
            schema_ref=schema_ref,
            header=header,
            lifecycle=error_state if state_note else r.spec.lifecycle_status,
            lifecycle_note=state_note,
        )
        files.append(DumpedFile(file_name, r.name, r.id, text))
    for project, file_names in sorted(projects.items()):
        shown = ", ".join(file_names[:3]) + (" …" if len(file_names) > 3 else "")
        notes.append(
            f"{len(file_names)} connector(s) ({shown}) are managed by cxrecon project "
            f"{project!r}: set `project: {project}` in cxrecon.yaml to go on managing them "
            "from here (a plan under another project id reports them as that project's)"
        )
    return Dump(tuple(files), tuple(references), tuple(notes))


def render_connector(
    spec: ConnectorSpec,
    refs: Mapping[str, Reference],
    *,
    schema_ref: str = SCHEMA_REF,
    header: Sequence[str] = (),
    lifecycle: str | None = None,
    lifecycle_note: str | None = None,
) -> str:
    """One connector file, keys in the schema's order; `refs` replace credential values."""
    # Each top-level key's lines; emitted in CONNECTOR_FIELDS order, absent keys left out.
    parts: dict[str, list[str]] = {"name": [f"name: {yaml_scalar(spec.name)}"]}
    if spec.description is not None:
        parts["description"] = [f"description: {_literal(spec.description)}"]
    parts["lifecycleStatus"] = [f"# {lifecycle_note}"] if lifecycle_note else []
    parts["lifecycleStatus"].append(
        f"lifecycleStatus: {yaml_scalar(lifecycle or spec.lifecycle_status)}"
    )
    parts["connectorType"] = [f"connectorType: {yaml_scalar(spec.connector_type)}"]
    parts["endpointUrl"] = [f"endpointUrl: {_literal(spec.endpoint_url)}"]
    parts["authentication"] = _authentication_lines(spec, refs)
    parts["mappings"] = _mapping_lines(spec) if spec.mappings else ["mappings: []"]
    if spec.sync_settings is not None:
        defaults = DEFAULT_SYNC_SETTINGS.to_api()
        changed = {k: v for k, v in spec.sync_settings.to_api().items() if defaults[k] != v}
        if changed:
            parts["syncSettings"] = ["syncSettings:", *(f"  {k}: {v}" for k, v in changed.items())]
    parts["version"] = [f"version: {yaml_scalar(spec.version)}"]
    labels = {k: v for k, v in sorted(spec.labels.items()) if not is_owned_label(k)}
    if labels:
        parts["labels"] = [
            "labels:",
            *(f"  {yaml_scalar(k)}: {_literal(v)}" for k, v in labels.items()),
        ]
    out = [f"# yaml-language-server: $schema={schema_ref}"]
    out += [f"# {line}" for line in header]
    for key in CONNECTOR_FIELDS:
        out += parts.get(key, ())
    return "\n".join(out) + "\n"


def _authentication_lines(spec: ConnectorSpec, refs: Mapping[str, Reference]) -> list[str]:
    auth = spec.authentication
    out = ["authentication:", f"  type: {yaml_scalar(auth.type)}"]
    keys = _credential_keys(auth.type, auth.credentials)
    if not keys:
        out.append("  credentials: {}")
        return out
    if any(k in refs for k in keys):
        out.append("  # CXone never returns credential values: set these variables (listed in")
        out.append(f"  # {ENV_EXAMPLE}) before `cxrecon apply` writes the credentials.")
    out.append("  credentials:")
    for key in keys:
        ref = refs.get(key)
        value = ref.text if ref is not None else _literal(auth.credentials[key])
        out.append(f"    {yaml_scalar(key)}: {value}")
    return out


def _mapping_lines(spec: ConnectorSpec) -> list[str]:
    out = ["mappings:"]
    for m in spec.mappings:
        values = m.to_api()
        present = [key for key in MAPPING_FIELDS if key in values]
        for i, key in enumerate(present):
            out.append(f"{'  - ' if i == 0 else '    '}{key}: {_literal(values[key])}")
    return out


def _literal(value: str) -> str:
    return yaml_scalar(escape_literal(value))


def _credential_keys(auth_type: str, credentials: Mapping[str, str]) -> list[str]:
    known = [k for k in _CREDENTIAL_ORDER.get(auth_type, ()) if k in credentials]
    return known + sorted(k for k in credentials if k not in known)


def is_masked(value: str) -> bool:
    """The API's mask for a write-only value (`***`, or any run of asterisks)."""
    return value == MASK or (value != "" and set(value) == {"*"})


def _credential_refs(spec: ConnectorSpec, connector_id: str, names: _Names) -> dict[str, Reference]:
    refs: dict[str, Reference] = {}
    credentials = spec.authentication.credentials
    for key in _credential_keys(spec.authentication.type, credentials):
        secret = is_secret_field(key)
        if secret or is_masked(credentials[key]):
            name = names.variable(spec.name, key, connector_id)
            refs[key] = Reference(name, spec.name, key, secret)
    return refs


def schema_ref_for(out: Path, root: Path) -> str:
    """The relative path from `out` to `root`/schemas/connector.schema.json (`root`: the
    project folder), or the schema's published `$id` when there is none (another drive)."""
    try:
        relative = os.path.relpath(root.resolve() / SCHEMA_PATH, out.resolve())
    except ValueError:
        return SCHEMA_ID
    return Path(relative).as_posix()


def slug(name: str) -> str:
    """`Salesforce-Prod_EU` → `salesforce-prod-eu` (lower case, runs of other chars → '-')."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "connector"


def _words(text: str) -> str:
    """`Salesforce-Prod_EU` → `SALESFORCE_PROD_EU`, `HubSpot-Lead` → `HUBSPOT_LEAD`: a
    connector name is split at its own separators only (brand names keep their capitals
    together: HubSpot, NetSuite, ServiceNow, S4HANA)."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").upper()


def _key_words(key: str) -> str:
    """`clientSecret` → `CLIENT_SECRET`, `tokenEndpoint` → `TOKEN_ENDPOINT`: a credential key
    (camelCase in the API) is split where a lowercase letter meets an uppercase one."""
    return _words(re.sub(r"(?<=[a-z])(?=[A-Z])", "_", key))


def _short_hash(text: str, size: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:size]


class _Names:
    """Hands out file and variable names, unique within one dump, in call order."""

    def __init__(self) -> None:
        self._files: set[str] = set()
        self._variables: set[str] = set()

    def file(self, name: str) -> str:
        base = slug(name)
        candidate, n = base, 1
        if candidate in self._files:
            base = candidate = f"{base}-{_short_hash(name)}"
        while candidate in self._files:
            n += 1
            candidate = f"{base}-{n}"
        self._files.add(candidate)
        return candidate + ".yaml"

    def variable(self, connector: str, key: str, connector_id: str) -> str:
        base = f"{_words(connector) or 'CONNECTOR'}_{_key_words(key) or 'VALUE'}"
        if base[0].isdigit():
            base = "CONNECTOR_" + base
        if is_reserved_variable(base):
            base = RESERVED_PREFIX_ESCAPE + base
        candidate = base
        if candidate.lower() in self._variables:
            candidate = f"{base}_{_short_hash(connector_id + chr(0) + key).upper()}"
        n = 1
        while candidate.lower() in self._variables:
            n += 1
            candidate = f"{base}_{n}"
        self._variables.add(candidate.lower())
        return candidate


# --- writing ---------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    """Paths written, and connector files already in the directory that this dump did not
    write (left alone, but they will be loaded with the new ones)."""

    paths: tuple[Path, ...]
    others: tuple[Path, ...]


def check_out_dir(out: Path) -> None:
    """Fail early, before the tenant is read, when `out` cannot be a dump directory."""
    if out.exists() and not out.is_dir():
        raise DumpError(f"--out {out} is a file; pass a directory (it is created if missing)")
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise DumpError(f"cannot create {out}: {probe} is not a directory; choose another --out")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise DumpError(f"cannot write to {probe}: permission denied; choose another --out")


def write_dump(dump: Dump, out: Path, *, force: bool = False) -> Written:
    """Write every file, or none when one exists and `force` is not set."""
    check_out_dir(out)
    targets = {out / f.file_name: f.text for f in dump.files}
    if dump.references:
        targets[out / ENV_EXAMPLE] = dump.env_example()
    existing = sorted(p for p in targets if p.exists() or p.is_symlink())
    if existing and not force:
        shown = ", ".join(p.name for p in existing[:5])
        more = f" and {len(existing) - 5} more" if len(existing) > 5 else ""
        raise DumpError(
            f"{len(existing)} file(s) already exist in {out}: {shown}{more}; pass --force to "
            "overwrite them, or choose an empty --out directory"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DumpError(
            f"cannot create {out}: {exc.strerror or exc}; choose another --out"
        ) from None
    for path, text in targets.items():
        _write_atomically(path, text)
    others = tuple(
        sorted(
            p
            for p in out.iterdir()
            if p.suffix in (".yaml", ".yml") and not p.name.startswith(".") and p not in targets
        )
    )
    return Written(tuple(targets), others)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8", newline="\n")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise DumpError(
            f"cannot write {path}: {exc.strerror or exc}; check its permissions or choose "
            "another --out"
        ) from None
