"""Field-level differences between two essences, as typed `FieldChange` values.

Plain equality first; then section by section: the shapes an essence is made of (scalars,
flat objects such as syncSettings and labels, mappings keyed by cxoneField, authentication)
are compared here directly, and deepdiff runs only on a section holding anything else (a
list, a float, a key deepdiff would skip). Both ways give the same changes — paths, kinds,
values, masking, order (tests/plan/test_diff_cost.py) — but a single changed field costs
microseconds instead of a deepdiff run, which dominated planning when many connectors
changed. deepdiff's output is wrapped here once: nothing outside this module touches it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any, Final

from reconciler.plan.essence import SECTIONS, Essence, comparable
from reconciler.secret import MASK, is_secret_path, mask_value

#: Sections whose children are user-chosen keys, shown as `mappings[contact.email]`.
_KEYED_SECTIONS: Final = frozenset({"mappings", "labels"})
_SECTION_ORDER: Final = {name: i for i, name in enumerate(SECTIONS)}
#: Longest value a message shows before shortening it with `…`.
MAX_VALUE_CHARS: Final = 200
#: How a value is shown (json.dumps with these options builds a new encoder on every call).
_COMPACT: Final = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(", ", ": "))

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
    `parts` is the same path as keys; `secret` marks a secret credential (a field the
    connector schema marks writeOnly), masked everywhere; every other value is shown.
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
    return _format_parts(tuple(parts))


@lru_cache(maxsize=4096)  # paths repeat across connectors; each is formatted once
def _format_parts(parts: tuple[str, ...]) -> str:
    out = parts[0] if parts else ""
    for i, part in enumerate(parts[1:], start=1):
        keyed = parts[0] in _KEYED_SECTIONS and i == 1
        keyed = keyed or (parts[0] == "authentication" and i == 2 and parts[1] == "credentials")
        out += f"[{part}]" if keyed else f".{part}"
    return out


def safe_values(field: FieldChange) -> tuple[JsonValue, JsonValue]:
    """(before, after) with secret credentials masked — whatever the diff said, also inside
    an object that holds them. Every output of a field change (renderers, drift, audit, the
    status page) goes through this."""
    if field.secret or is_secret_path(field.parts):
        return _mask(field.before), _mask(field.after)
    if isinstance(field.before, dict) or isinstance(field.after, dict):
        return mask_value(field.parts, field.before), mask_value(field.parts, field.after)
    return field.before, field.after


def format_value(value: JsonValue, limit: int = MAX_VALUE_CHARS) -> str:
    """Compact JSON, shortened past `limit` characters; None reads as `(absent)`."""
    if value is None:
        return "(absent)"
    text = _COMPACT.encode(value)
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

#: Leaf types compared here (exact types: a subclass, or a float with its NaN, goes to deepdiff).
_LEAVES: Final = (str, int, bool, type(None))

#: (parts, kind, before, after) of one difference, before masking.
_Found = tuple[tuple[str, ...], ChangeKind, JsonValue, JsonValue]


def diff_essences(before: Essence, after: Essence) -> tuple[FieldChange, ...]:
    """Field changes from `before` (remote) to `after` (desired), sorted by section then path.

    Equal essences cost one comparison; owned labels are not part of the diff.
    """
    if before.doc == after.doc:
        return ()
    before, after = comparable(before, after)
    if before.doc == after.doc:
        return ()
    old: Mapping[str, Any] = before.doc
    new: Mapping[str, Any] = after.doc
    found: list[_Found] = []
    if old.keys() == new.keys() and all(_walkable_key(k) for k in old):
        for section, value in old.items():
            here: list[_Found] = []
            if _walk((section,), value, new[section], here):
                found += here
            else:  # a shape not handled here: deepdiff decides, for this section only
                found += _deepdiff(value, new[section], (section,))
    else:
        found = _deepdiff(old, new, ())
    return _sorted(_field_change(*f) for f in found)


def diff_with_deepdiff(before: Essence, after: Essence) -> tuple[FieldChange, ...]:
    """`diff_essences` done by deepdiff alone, on the whole documents: the reference the
    direct comparison must agree with (tests/plan/test_diff_cost.py, benchmarks)."""
    if before.doc == after.doc:
        return ()
    before, after = comparable(before, after)
    return _sorted(_field_change(*f) for f in _deepdiff(before.doc, after.doc, ()))


def _walkable_key(key: object) -> bool:
    # deepdiff leaves out keys starting with "__" (ignore_private_variables): so do we, by
    # leaving such a section to it.
    return type(key) is str and not key.startswith("__")


def _walk(parts: tuple[str, ...], old: Any, new: Any, out: list[_Found]) -> bool:
    """Append the differences between `old` and `new` (at `parts`) as deepdiff reports them
    with threshold_to_diff_deeper=0; False when a shape here is not handled (then `out` is
    incomplete and the caller asks deepdiff)."""
    old_type, new_type = type(old), type(new)
    if old_type is dict and new_type is dict:
        if not all(_walkable_key(k) for k in old) or not all(_walkable_key(k) for k in new):
            return False
        for key, value in old.items():
            if key not in new:
                out.append(((*parts, key), ChangeKind.REMOVED, _plain(value), None))
        for key, value in new.items():
            if key not in old:
                out.append(((*parts, key), ChangeKind.ADDED, None, _plain(value)))
                continue
            was = old[key]
            if type(was) is str and type(value) is str:  # the usual leaf, inline
                if was != value:
                    out.append(((*parts, key), ChangeKind.CHANGED, was, value))
            elif not _walk((*parts, key), was, value, out):
                return False
        return True
    if old_type in _LEAVES and new_type in _LEAVES:
        # deepdiff: values_changed for the same type, type_changes (e.g. 1 → True) otherwise
        if old_type is not new_type or old != new:
            out.append((parts, ChangeKind.CHANGED, old, new))
        return True
    return False


def _deepdiff(old: Any, new: Any, prefix: tuple[str, ...]) -> list[_Found]:
    """deepdiff's differences between `old` and `new`, their paths under `prefix`."""
    from deepdiff import DeepDiff  # only for shapes _walk leaves to it: most plans never load it

    # threshold 0: always descend into objects, so a changed key reads as that key, never
    # as "the whole object was replaced" when few keys are shared.
    report = DeepDiff(old, new, view="tree", ignore_order=False, threshold_to_diff_deeper=0)
    found: list[_Found] = []
    for report_type, levels in report.items():
        kind = _KIND_BY_REPORT.get(report_type)
        if kind is None:  # deepdiff reports nothing else for JSON-shaped documents
            raise ValueError(f"unexpected difference type {report_type!r}")
        for level in levels:
            parts = (*prefix, *(str(p) for p in level.path(output_format="list")))
            found.append((parts, kind, _plain(level.t1), _plain(level.t2)))
    return found


def _field_change(
    parts: tuple[str, ...], kind: ChangeKind, old: JsonValue, new: JsonValue
) -> FieldChange:
    if kind is ChangeKind.CHANGED and old is None:
        kind = ChangeKind.ADDED
    elif kind is ChangeKind.CHANGED and new is None:
        kind = ChangeKind.REMOVED
    secret = is_secret_path(parts)
    if secret:
        old, new = _mask(old), _mask(new)
    elif isinstance(old, dict) or isinstance(new, dict):
        old, new = mask_value(parts, old), mask_value(parts, new)
    return FieldChange(
        path=format_path(parts), parts=parts, kind=kind, before=old, after=new, secret=secret
    )


def _sorted(changes: Iterable[FieldChange]) -> tuple[FieldChange, ...]:
    # Stable: changes with equal parts (deepdiff's 1 and "1" keys) keep deepdiff's order.
    return tuple(
        sorted(changes, key=lambda c: (_SECTION_ORDER.get(c.section, len(SECTIONS)), c.parts))
    )
