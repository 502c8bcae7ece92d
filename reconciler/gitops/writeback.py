"""`cxrecon drift --write-back`: adopt drift into the connector files with the smallest edit,
keeping comments, key order, quoting and indentation (reconciler.documents.yamlwrite.RoundTrip).

Safety rules: a file ruamel cannot reproduce byte for byte is not touched (its changes are
listed for a hand edit); secret credentials and credential keys are never written (rotate
them in the secret store), a changed non-secret credential (username, tokenEndpoint, …) is;
a value written with `${var:}` is not replaced by a literal (the per-environment value
belongs in cxrecon.yaml); a field that changed in git too (conflict), a server-set ERROR
state and an immutable connectorType are reported, not written. Every edited file is loaded
again and must now declare exactly CXone's values before it is saved.

The repository is untrusted input: a connector file that is a link, or behind a linked folder
of the project, is left for a hand edit (never written through); the edited files are
written together, every one or none (reconciler.safefs: temporary files with unpredictable
names, made with O_EXCL, renamed into place), so a full disk is one line and no file half
written; the edited text is checked in memory, with no file in a temporary folder.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from reconciler.config.project import EnvironmentConfig
from reconciler.documents.yamlwrite import RoundTrip, insert_ordered, quoted_like
from reconciler.gitops.drift import ConnectorDrift, DriftedField, DriftReport, document_path
from reconciler.load.checked import LoadContext, check_file
from reconciler.model import CONNECTOR_FIELDS, MAPPING_FIELDS, DesiredConnector
from reconciler.plan.changes import Plan
from reconciler.plan.diff import JsonValue, Origin, format_value
from reconciler.plan.essence import essence_of
from reconciler.safefs import UnsafePathError, read_bytes, refuse_links, write_all_atomic

_SYNC_KEYS: Final = ("batchSize", "retryAttempts", "syncIntervalMinutes")
#: One order for every level (the key sets do not overlap): where a missing key is inserted.
_ORDER: Final = (*CONNECTOR_FIELDS, *_SYNC_KEYS, *MAPPING_FIELDS)
_VAR: Final = re.compile(r"(?<!\$)\$\{var:([^}]*)\}")


@dataclass(frozen=True, slots=True)
class Adopted:
    connector: str
    file: str
    path: str


@dataclass(frozen=True, slots=True)
class LeftOver:
    """Drift not written, with what to do instead."""

    connector: str
    path: str
    where: str
    reason: str


@dataclass(frozen=True)
class WriteBackResult:
    adopted: tuple[Adopted, ...] = ()
    left: tuple[LeftOver, ...] = ()
    files: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def complete(self) -> bool:
        return not self.left


@dataclass(frozen=True, slots=True)
class _Edit:
    """One file's new text, not yet written, and the mode it keeps."""

    path: Path
    text: str
    mode: int


def write_back(
    report: DriftReport,
    plan: Plan,
    environment: EnvironmentConfig | None,
    *,
    root: Path | None = None,
) -> WriteBackResult:
    """Adopt every adoptable drifted field into its file; report the rest. `root` is the
    project folder (default: the working directory): no link below it is written through.
    Raises FileWriteError (one line, no file changed) when the files cannot be written."""
    base = Path.cwd() if root is None else root
    desired = {c.name: c.desired for c in plan.changes if c.desired is not None}
    adopted: list[Adopted] = []
    left: list[LeftOver] = []
    files: list[Path] = []
    edits: list[_Edit] = []
    for gone in report.deleted:
        left.append(
            LeftOver(
                gone.name,
                "(connector)",
                gone.file or gone.name,
                "deleted in CXone; remove its file in a pull request to keep it deleted, or "
                "re-create it with `cxrecon apply`",
            )
        )
    for drift in report.connectors:
        connector = desired.get(drift.name)
        if connector is None:  # pragma: no cover - drift is only found on declared connectors
            continue
        done, rest, edit = _connector(drift, connector, environment, base)
        left.extend(rest)
        if done and edit is not None:
            adopted.extend(done)
            files.append(edit.path)
            edits.append(edit)
    # Every edited file or none: a full disk leaves the files as they were (one line).
    write_all_atomic(
        [(e.path, e.text.encode("utf-8")) for e in edits],
        mode=[e.mode for e in edits],
        what="connector file",
    )
    return WriteBackResult(tuple(adopted), tuple(left), tuple(files))


def _left(drift: ConnectorDrift, f: DriftedField, reason: str) -> LeftOver:
    where = str(f.location) if f.location else (drift.file or drift.name)
    return LeftOver(drift.name, f.path, where, reason)


def _refusal(f: DriftedField) -> str | None:
    """Why a field is not written at all (before looking at the file)."""
    if f.origin is Origin.CONFLICT:
        return (
            "changed in git as well since the last apply; merge the two by hand "
            f"(CXone has {_show(f.cxone)})"
        )
    if f.parts[:1] == ("authentication",) and not _plain_credential(f):
        return (
            "credentials changed in CXone; they are never written to git: rotate the secret "
            "in your secret store (and the reference in the file if its keys changed), or "
            "revert with `cxrecon apply`"
        )
    if f.server_error:
        return (
            "CXone set ERROR (the connector is failing); fix the cause, then `cxrecon apply` "
            "retries it — ERROR cannot be declared in git"
        )
    if f.parts == ("connectorType",):
        return "connectorType is immutable; recreate the connector under another name"
    return None


def _plain_credential(f: DriftedField) -> bool:
    """A credential that is not secret (not writeOnly in the connector schema) whose value
    changed in CXone: CXone shows it, so git adopts it as any other field. A secret, a key
    added or removed, or the type, is left to the secret store and a hand edit."""
    auth = f.parts[:2] == ("authentication", "credentials") and len(f.parts) == 3
    return auth and not f.secret and f.git is not None and f.cxone is not None


def _connector(
    drift: ConnectorDrift,
    desired: DesiredConnector,
    environment: EnvironmentConfig | None,
    root: Path,
) -> tuple[list[Adopted], list[LeftOver], _Edit | None]:
    left: list[LeftOver] = []
    wanted: list[DriftedField] = []
    for f in drift.fields:
        reason = _refusal(f)
        if reason is None:
            wanted.append(f)
        else:
            left.append(_left(drift, f, reason))
    if not wanted:
        return [], left, None
    path = Path(desired.source.path)
    try:
        refuse_links(root.absolute(), path.absolute())
        mode = stat.S_IMODE(os.lstat(path).st_mode)
        original = read_bytes(path).decode("utf-8")
    except UnsafePathError:
        reason = (
            f"{path} is a symbolic link (or behind one); write-back edits only regular files "
            "of the project: change it by hand"
        )
        return [], left + [_left(drift, f, reason) for f in wanted], None
    except (OSError, UnicodeDecodeError) as exc:
        reason = f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
        return [], left + [_left(drift, f, reason) for f in wanted], None
    doc = RoundTrip.open(original)
    if doc is None:
        reason = (
            f"{path} cannot be edited without reformatting it; change it by hand to CXone's value"
        )
        return [], left + [_left(drift, f, f"{reason} {_show(f.cxone)}") for f in wanted], None
    editor = _Editor(doc)
    done: list[DriftedField] = []
    for f in _ordered(wanted, desired):
        problem = editor.apply(f, document_path(desired, f.parts), environment)
        if problem is None:
            done.append(f)
        else:
            left.append(_left(drift, f, problem))
    if not done:
        return [], left, None
    text = doc.text()
    problem = _verify(path, text, done, environment, root)
    if problem is not None:
        return [], left + [_left(drift, f, problem) for f in done], None
    adopted = [Adopted(drift.name, str(path), f.path) for f in done]
    return adopted, left, _Edit(path, text, mode)


def _ordered(fields: Iterable[DriftedField], desired: DesiredConnector) -> list[DriftedField]:
    """Edits in place first, then appends, then removals of list items from the end, so the
    indexes of mappings stay valid while editing."""

    def key(f: DriftedField) -> tuple[int, int]:
        is_item = f.parts[:1] == ("mappings",) and len(f.parts) == 2
        if is_item and f.cxone is None:
            index = document_path(desired, f.parts)
            return (2, -int(index[1]) if len(index) > 1 else 0)
        return (1 if is_item else 0, 0)

    return sorted(fields, key=key)


def _show(value: JsonValue) -> str:
    return format_value(value)


class _Editor:
    """One file's round trip, with the edits write-back may make to a connector document."""

    def __init__(self, doc: RoundTrip) -> None:
        self.data = doc.data

    def apply(
        self, f: DriftedField, doc_path: tuple[str | int, ...], env: EnvironmentConfig | None
    ) -> str | None:
        """Make the document hold `f.cxone` at `f.parts`; a reason when it must not."""
        parts = f.parts
        section = parts[0]
        if section == "mappings" and len(parts) >= 2:
            return self._mapping(f, doc_path, env)
        if section in ("labels", "syncSettings") and len(parts) == 2:
            parent = self._child_map(section)
            return _set(parent, parts[1], f.cxone, self.data, section, env)
        if len(parts) == 1:
            return _set(self.data, section, f.cxone, None, None, env)
        if _plain_credential(f):
            auth = self.data.get("authentication")
            credentials = auth.get("credentials") if isinstance(auth, CommentedMap) else None
            if isinstance(credentials, CommentedMap) and parts[2] in credentials:
                return _set(credentials, parts[2], f.cxone, None, None, env)
        return f"cxrecon cannot write {f.path} back; change it by hand to {_show(f.cxone)}"

    def _child_map(self, key: str) -> CommentedMap:
        node = self.data.get(key)
        if not isinstance(node, CommentedMap):
            node = CommentedMap()
            insert_ordered(self.data, key, node, _ORDER)
        return node

    def _mapping(
        self, f: DriftedField, doc_path: tuple[str | int, ...], env: EnvironmentConfig | None
    ) -> str | None:
        items = self.data.get("mappings")
        if not isinstance(items, CommentedSeq):
            return "mappings is not a list in the file; change it by hand"
        index = doc_path[1] if len(doc_path) > 1 else None
        if len(f.parts) == 2:
            if f.cxone is None:  # removed in CXone
                if not isinstance(index, int):
                    return "the mapping was not found in the file; remove it by hand"
                if _uses_var(items[index]):
                    return (
                        f"{f.path} uses ${{var:}} values and CXone removed it; edit the file "
                        "or the environment's vars in cxrecon.yaml by hand"
                    )
                del items[index]
                return None
            if not isinstance(f.cxone, dict):
                return f"unexpected value for {f.path}; change it by hand"
            item = CommentedMap()
            entry = {"cxoneField": f.parts[1], **f.cxone}
            for key in MAPPING_FIELDS:
                if entry.get(key) is not None:
                    item[key] = quoted_like(str(entry[key]))
            items.append(item)
            return None
        if not isinstance(index, int) or not isinstance(items[index], CommentedMap):
            return "the mapping was not found in the file; change it by hand"
        return _set(items[index], f.parts[2], f.cxone, None, None, env)


def _set(
    node: CommentedMap,
    key: str,
    value: JsonValue,
    root: CommentedMap | None,
    section: str | None,
    env: EnvironmentConfig | None,
) -> str | None:
    """Set or delete `key` in `node`, keeping its quoting style; a section emptied by the
    deletion is removed from `root` as well."""
    current = node.get(key)
    if _uses_var(current):
        return _var_message_value(key, current, value, env)
    if isinstance(value, dict | list):
        return f"unexpected value for {key}; change it by hand"
    if value is None:
        if key in node:
            del node[key]
        if root is not None and section is not None and not node and section in root:
            del root[section]
        return None
    new: Any = value if isinstance(value, bool | int | float) else quoted_like(str(value), current)
    if key in node:
        node[key] = new
    else:
        insert_ordered(node, key, new, _ORDER)
    return None


def _uses_var(value: object) -> bool:
    if isinstance(value, str):
        return _VAR.search(value) is not None
    if isinstance(value, Mapping):
        return any(_uses_var(v) for v in value.values())
    return False


def _var_message_value(key: str, raw: str, value: JsonValue, env: EnvironmentConfig | None) -> str:
    names = _VAR.findall(raw)
    env_name = env.name if env is not None else "<environment>"
    where = f"environments.{env_name}.vars in cxrecon.yaml"
    suggestion = _var_value(raw, value) if len(names) == 1 else None
    if suggestion is not None:
        return (
            f"{key} is written as {raw!r}; to adopt CXone's value set {names[0]}: "
            f"{suggestion!r} under {where} (a literal here would apply to every environment)"
        )
    return (
        f"{key} is written as {raw!r} and CXone now has {_show(value)}; update the "
        f"variable(s) {', '.join(names)} under {where}, or the file, by hand"
    )


def _var_value(raw: str, value: JsonValue) -> str | None:
    """The variable value that turns `raw` (one ${var:}) into `value`, if there is one."""
    if not isinstance(value, str):
        return None
    match = _VAR.search(raw)
    assert match is not None
    prefix, suffix = raw[: match.start()], raw[match.end() :]
    if "${" in prefix + suffix or not value.startswith(prefix) or not value.endswith(suffix):
        return None
    return value[len(prefix) : len(value) - len(suffix)] if suffix else value[len(prefix) :]


def _verify(
    path: Path, text: str, done: list[DriftedField], env: EnvironmentConfig | None, root: Path
) -> str | None:
    """Check the edited text like `plan` would (in memory: a check file in a temporary
    folder failed on a full disk): every adopted field must read as CXone's."""
    checked = check_file(text.encode("utf-8"), path.as_posix(), LoadContext((env,), root=root))
    errors = [d for d in checked.diagnostics if d.severity == "error"]
    if errors or checked.connector is None:
        first = errors[0].message if errors else "no connector"
        return f"the edited file would not be valid ({first}); change it by hand"
    doc: Mapping[str, Any] = essence_of(checked.connector.spec).doc
    for f in done:
        node: Any = doc
        for part in f.parts:
            node = node.get(part) if isinstance(node, Mapping) else None
        if node != f.cxone:
            return f"the edit did not produce CXone's value for {f.path}; change it by hand"
    return None
