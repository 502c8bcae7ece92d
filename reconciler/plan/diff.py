"""Field-level differences between two essences, as typed `FieldChange` values.

Plain equality first; deepdiff runs only on essences that differ, and its output is
wrapped here once: nothing outside this module touches raw deepdiff results.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from deepdiff import DeepDiff

from reconciler.plan.essence import SECTIONS, Essence
from reconciler.secret import MASK, is_secret_path

#: Sections whose children are user-chosen keys, shown as `mappings[contact.email]`.
_KEYED_SECTIONS: Final = frozenset({"mappings", "labels"})
_SECTION_ORDER: Final = {name: i for i, name in enumerate(SECTIONS)}
#: Longest value a message shows before shortening it with `…`.
MAX_VALUE_CHARS: Final = 200

JsonValue = str | int | float | bool | None | list[Any] | dict[str, Any]


class ChangeKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


class Origin(StrEnum):
    """Why a field differs, judged from the applied-digest label."""

    PENDING = "pending"  # changed in git, not yet applied
    DRIFT = "drift"  # changed in CXone since the last apply
    CONFLICT = "conflict"  # changed on both sides since the last apply
    UNKNOWN = "unknown"  # no applied-digest to judge by (adopt, foreign edits of the label)


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One difference: `before` is the remote value, `after` the desired one (None = absent).

    `path` reads like `mappings[contact.email].direction` or `syncSettings.batchSize`;
    `parts` is the same path as keys; `secret` marks values that are masked everywhere.
    """

    path: str
    parts: tuple[str, ...]
    kind: ChangeKind
    before: JsonValue
    after: JsonValue
    secret: bool = False
    origin: Origin | None = None

    @property
    def section(self) -> str:
        return self.parts[0]


def format_path(parts: Sequence[str]) -> str:
    """Human path: dotted, with user-chosen keys in brackets."""
    out = parts[0] if parts else ""
    for i, part in enumerate(parts[1:], start=1):
        keyed = parts[0] in _KEYED_SECTIONS and i == 1
        keyed = keyed or (parts[0] == "authentication" and i == 2 and parts[1] == "credentials")
        out += f"[{part}]" if keyed else f".{part}"
    return out


def safe_values(field: FieldChange) -> tuple[JsonValue, JsonValue]:
    """(before, after), masked when the path is secret-bearing — whatever the diff said.
    Every output of a field change (renderers, drift, audit) goes through this."""
    if field.secret or is_secret_path(field.parts):
        return _mask(field.before), _mask(field.after)
    return field.before, field.after


def format_value(value: JsonValue, limit: int = MAX_VALUE_CHARS) -> str:
    """Compact JSON, shortened past `limit` characters; None reads as `(absent)`."""
    if value is None:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _mask(value: Any) -> JsonValue:
    if value is None:
        return None
    if isinstance(value, dict):
        return {str(k): MASK for k in value}
    return MASK


def _plain(value: Any) -> JsonValue:
    """deepdiff's 'not present' marker → None; containers copied as plain JSON values."""
    if type(value).__name__ == "NotPresent":
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


_KIND_BY_REPORT: Final = {
    "values_changed": ChangeKind.CHANGED,
    "type_changes": ChangeKind.CHANGED,
    "dictionary_item_added": ChangeKind.ADDED,
    "dictionary_item_removed": ChangeKind.REMOVED,
    "iterable_item_added": ChangeKind.ADDED,
    "iterable_item_removed": ChangeKind.REMOVED,
}


def diff_essences(before: Essence, after: Essence) -> tuple[FieldChange, ...]:
    """Field changes from `before` (remote) to `after` (desired), sorted by section then path.

    Equal essences cost one comparison; owned labels are not part of the diff.
    """
    if before.doc == after.doc:
        return ()
    # threshold 0: always descend into objects, so a changed key reads as that key, never
    # as "the whole object was replaced" when few keys are shared.
    report = DeepDiff(
        before.doc, after.doc, view="tree", ignore_order=False, threshold_to_diff_deeper=0
    )
    changes: list[FieldChange] = []
    for report_type, levels in report.items():
        kind = _KIND_BY_REPORT.get(report_type)
        if kind is None:  # deepdiff reports nothing else for JSON-shaped documents
            raise ValueError(f"unexpected difference type {report_type!r}")
        for level in levels:
            parts = tuple(str(p) for p in level.path(output_format="list"))
            old, new = _plain(level.t1), _plain(level.t2)
            if kind is ChangeKind.CHANGED and old is None:
                kind_here = ChangeKind.ADDED
            elif kind is ChangeKind.CHANGED and new is None:
                kind_here = ChangeKind.REMOVED
            else:
                kind_here = kind
            secret = is_secret_path(parts)
            if secret:
                old, new = _mask(old), _mask(new)
            changes.append(
                FieldChange(
                    path=format_path(parts),
                    parts=parts,
                    kind=kind_here,
                    before=old,
                    after=new,
                    secret=secret,
                )
            )
    changes.sort(key=lambda c: (_SECTION_ORDER.get(c.section, len(SECTIONS)), c.parts))
    return tuple(changes)
