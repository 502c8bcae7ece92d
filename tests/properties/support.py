"""What the convergence machine is made of: connector documents and their edits (in git and
in CXone), reading the tenant and the audit log, and which paths a shown plan covers."""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from hypothesis import strategies as st

from reconciler.model import ConnectorSpec
from reconciler.plan.changes import Action, ConnectorChange
from reconciler.plan.essence import Essence, essence_of

#: The connector names git and the tenant use: few, so that edits, runs and re-creations
#: keep meeting the same connectors.
NAMES: Final = ("Alpha", "Bravo", "Charlie")
#: Names an out-of-band rename may choose besides another connector's (a name git lacks).
RENAMES: Final = ("Alpha-ui", "Zulu")

#: The mappings every connector keeps (CUSTOM needs the `id` identity mapping).
BASE_MAPPINGS: Final = (
    {"cxoneField": "case.external_id", "crmField": "id", "direction": "INBOUND"},
    {
        "cxoneField": "contact.email",
        "crmField": "email",
        "direction": "OUTBOUND",
        "transformation": "email_normalize",
    },
)
#: Mappings git and CXone may add or remove: cxoneField → crmField.
OPTIONAL_MAPPINGS: Final = {
    "contact.first_name": "first_name",
    "contact.company": "company",
    "account.name": "account_name",
}
DIRECTIONS: Final = ("INBOUND", "OUTBOUND", "BIDIRECTIONAL")
LABEL_KEYS: Final = ("team", "tier")
LABEL_VALUES: Final = ("crm", "gold")
#: Audit actions that are writes (a POST or a PATCH of a connector).
WRITE_ACTIONS: Final = frozenset({"create", "update", "adopt", "activate", "deactivate"})
#: cxrecon's own labels, written with every write and never shown in a plan.
OWNED_LABEL_PATHS: Final = ("labels[managed-by]", "labels[cxrecon.io/")

Parts = tuple[str, ...]


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Final = _Absent()


def secret_variable(name: str) -> str:
    """The `${env:}` variable holding a connector's API key (one per connector)."""
    return f"PROP_KEY_{name.upper()}"


def base_doc(name: str, lifecycle: str) -> dict[str, Any]:
    """A valid CUSTOM / API_KEY connector file whose apiKey is a `${env:}` reference."""
    return {
        "name": name,
        "description": f"{name} connector",
        "lifecycleStatus": lifecycle,
        "connectorType": "CUSTOM",
        "endpointUrl": f"https://{name.lower()}.crm.example/api",
        "authentication": {
            "type": "API_KEY",
            "credentials": {
                "apiKey": "${env:" + secret_variable(name) + "}",
                "headerName": "X-Api-Key",
            },
        },
        "mappings": [dict(m) for m in BASE_MAPPINGS],
        "version": "1.0.0",
        "labels": {"team": "crm"},
    }


# --- edits ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """One change of a connector document: `kind` says which field, `key` which entry."""

    kind: str
    value: Any = None
    key: str | None = None


def _edits(kind: str, values: Iterable[Any], keys: Iterable[str | None] = (None,)) -> Any:
    return st.builds(
        Edit, st.just(kind), st.sampled_from(list(values)), st.sampled_from(list(keys))
    )


#: Changes a commit makes to one connector file.
git_edits: Final = st.one_of(
    _edits("description", ["Synced from git", "Contact sync, second cut", None]),
    _edits("endpointUrl", ["https://a.crm.example/api", "https://b.crm.example/v2"]),
    _edits(
        "syncSettings",
        [
            None,
            {"batchSize": 250},
            {"batchSize": 1000, "retryAttempts": 5},
            {"syncIntervalMinutes": 60},
        ],
    ),
    _edits("mapping_add", DIRECTIONS, OPTIONAL_MAPPINGS),
    _edits("mapping_remove", [None], OPTIONAL_MAPPINGS),
    _edits("mapping_direction", DIRECTIONS, ["contact.email", *OPTIONAL_MAPPINGS]),
    _edits("label", [*LABEL_VALUES, None], LABEL_KEYS),
    _edits("version", ["1.1.0", "2.0.0", "1.0.0"]),
)

#: Out-of-band edits "in the CXone UI" (the emulator's admin PATCH) of the fields git
#: declares (what a person changes most).
field_edits: Final = st.one_of(
    _edits("description", ["from the UI", "edited in CXone", None]),
    _edits("endpointUrl", ["https://ui.crm.example/api", "https://b.crm.example/v2"]),
    _edits("syncSettings", [{"batchSize": 100}, {"retryAttempts": 0}, {"batchSize": 1000}]),
    _edits("mapping_add", DIRECTIONS, OPTIONAL_MAPPINGS),
    _edits("mapping_remove", [None], OPTIONAL_MAPPINGS),
    _edits("mapping_direction", DIRECTIONS, ["contact.email", *OPTIONAL_MAPPINGS]),
    _edits("label", ["ui", *LABEL_VALUES, None], [*LABEL_KEYS, "owner"]),
    _edits("version", ["9.9.9", "1.1.0"]),
    _edits("lifecycleStatus", ["DRAFT", "ACTIVE", "INACTIVE", "ERROR"]),
)
#: Any out-of-band edit: also cxrecon's own labels, the immutable type and the name.
cxone_edits: Final = st.one_of(
    *[field_edits] * 5,
    _edits(
        "owned_label",
        [None, "other-tool", "1.garbage.digest", "cxrecon"],
        ["managed-by", "cxrecon.io/applied-digest"],
    ),
    _edits("connectorType", ["DYNAMICS"]),
    _edits("name", [*NAMES, *RENAMES]),
)


def _mapping(field: str, direction: str) -> dict[str, str]:
    mapping = {"cxoneField": field, "crmField": OPTIONAL_MAPPINGS[field], "direction": direction}
    if direction == "BIDIRECTIONAL":
        mapping["transformation"] = "trim"  # lint asks for one on a two-way mapping
    return mapping


def _edited_mappings(mappings: list[dict[str, Any]], edit: Edit) -> list[dict[str, Any]] | None:
    """The mappings after `edit`, or None when it changes nothing."""
    fields = [m["cxoneField"] for m in mappings]
    if edit.kind == "mapping_add":
        assert edit.key is not None
        if edit.key in fields:
            return None
        return [*mappings, _mapping(edit.key, edit.value)]
    if edit.kind == "mapping_remove":
        if edit.key not in fields:
            return None
        return [m for m in mappings if m["cxoneField"] != edit.key]
    out = copy.deepcopy(mappings)
    for m in out:
        if m["cxoneField"] == edit.key and m["direction"] != edit.value:
            m["direction"] = edit.value
            if edit.value == "BIDIRECTIONAL" and "transformation" not in m:
                m["transformation"] = "trim"
            return out
    return None


def edit_git(doc: Mapping[str, Any], edit: Edit) -> dict[str, Any]:
    """`doc` (a connector file) with `edit` made; the same document when it changes nothing."""
    new = copy.deepcopy(dict(doc))
    if edit.kind in ("description", "syncSettings"):
        if edit.value is None:
            new.pop(edit.kind, None)
        else:
            new[edit.kind] = copy.deepcopy(edit.value)
    elif edit.kind in ("endpointUrl", "version", "lifecycleStatus"):
        new[edit.kind] = edit.value
    elif edit.kind.startswith("mapping_"):
        mappings = _edited_mappings(new["mappings"], edit)
        if mappings is not None:
            new["mappings"] = mappings
    elif edit.kind == "label":
        assert edit.key is not None
        labels = dict(new.get("labels", {}))
        if edit.value is None:
            labels.pop(edit.key, None)
        else:
            labels[edit.key] = edit.value
        new["labels"] = labels
        if not labels:
            del new["labels"]
    else:
        raise AssertionError(f"not a git edit: {edit}")
    return new


def cxone_patch(edit: Edit, public: Mapping[str, Any]) -> dict[str, Any] | None:
    """The admin merge-patch that makes `edit` to a connector as the API returns it."""
    if edit.kind == "syncSettings":
        return {"syncSettings": dict(edit.value)}
    if edit.kind in ("description", "endpointUrl", "version", "lifecycleStatus"):
        return {edit.kind: edit.value}
    if edit.kind in ("connectorType", "name"):
        return None if public[edit.kind] == edit.value else {edit.kind: edit.value}
    if edit.kind.startswith("mapping_"):
        mappings = _edited_mappings(list(public.get("mappings", [])), edit)
        return None if mappings is None else {"mappings": mappings}
    if edit.kind in ("label", "owned_label"):
        assert edit.key is not None
        return {"labels": {edit.key: edit.value}}
    raise AssertionError(f"not a CXone edit: {edit}")


def recreated(
    public: Mapping[str, Any], keep_labels: bool, description: str | None
) -> dict[str, Any]:
    """A connector like `public` as someone re-creates it by hand (a new id, a new key;
    cxrecon's labels kept when they copied them too)."""
    body = {
        k: copy.deepcopy(v)
        for k, v in public.items()
        if k not in ("id", "etag", "createdTime", "lastModifiedTime", "authentication")
    }
    body["authentication"] = {
        "type": public["authentication"]["type"],
        "credentials": {"apiKey": "typed-in-the-ui", "headerName": "X-Api-Key"},
    }
    if not keep_labels:
        body["labels"] = {
            k: v
            for k, v in public.get("labels", {}).items()
            if k != "managed-by" and not k.startswith("cxrecon.io/")
        }
    if description is not None:
        body["description"] = description
    return body


# --- reading the tenant ----------------------------------------------------------------


def tenant_rows(db_path: Path) -> dict[str, dict[str, Any]]:
    """Every connector as the API shows it, by id, read from the emulator's own store (no
    request: nothing counted, no fault drawn)."""
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)) as conn:
        rows = conn.execute("SELECT id, public FROM connectors").fetchall()
    return {str(cid): json.loads(public) for cid, public in rows}


def essence_of_public(public: Mapping[str, Any]) -> Essence:
    return essence_of(ConnectorSpec.from_api(public))


def value_at(doc: Any, parts: Parts) -> Any:
    node = doc
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return ABSENT
        node = node[part]
    return node


def ok_writes(stats: Mapping[str, Any]) -> int:
    """POSTs and PATCHes of connectors the emulator answered 2xx (syncs excluded)."""
    total = 0
    for route, by_status in stats["requests"].items():
        method, _, path = route.partition(" ")
        if method not in ("POST", "PATCH") or "/sync" in path:
            continue
        if path.startswith("/api/v2/crm/connectors"):
            total += sum(n for status, n in by_status.items() if status.startswith("2"))
    return total


def audit_records(path: Path) -> list[dict[str, Any]]:
    """The audit log's records but the intents written ahead of each write."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r.get("event") != "intent"]


def successful_writes(records: Iterable[Mapping[str, Any]]) -> int:
    return sum(1 for r in records if r["action"] in WRITE_ACTIONS and r["result"] == "success")


# --- what a plan shows -------------------------------------------------------------------


def shown_paths(change: ConnectorChange) -> frozenset[str]:
    """The field paths a plan shows for one connector (`authentication` when it says the
    credentials are rotated or will be written)."""
    paths = {f.path for f in change.fields}
    if change.transition is not None:
        paths.add("lifecycleStatus")
    if change.credentials is not None and change.credentials.will_write:
        paths.add("authentication")
    return frozenset(paths)


def covers(shown: Iterable[str], path: str) -> bool:
    """Whether `path` is one of the shown paths, inside one, or holds one."""
    for s in shown:
        if path == s or any(path.startswith(s + sep) for sep in ".["):
            return True
        if any(s.startswith(path + sep) for sep in ".["):
            return True
    return False


def is_owned_label_path(path: str) -> bool:
    return path == OWNED_LABEL_PATHS[0] or path.startswith(OWNED_LABEL_PATHS[1])


def writes(change: ConnectorChange) -> bool:
    return change.action.writes and change.action is not Action.ERROR
