"""Turning a composed YAML node graph into plain data (dict/list/str/int/float/bool/None),
refusing what PyYAML lets through: duplicate keys, language tags, alias-expansion bombs and
recursive aliases, integers too long to be a value; every value's line:col is recorded.
"""

from __future__ import annotations

import re
from typing import Any, Final

from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.documents.marks import MarkMap, Path_
from reconciler.model import Diagnostic, SourceLocation

#: Nodes built per file after alias expansion (a 20-mapping connector has ~150).
MAX_NODES: Final = 100_000
#: Digits in one integer: no field takes more than a few; Python refuses to convert
#: 4,300-digit numbers to text at all, so a longer one would end in a traceback later.
MAX_INT_DIGITS: Final = 30

_TAG: Final = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ, _MERGE, _TIMESTAMP = (_TAG + t for t in ("map", "seq", "merge", "timestamp"))
#: What is not a digit in an integer's text: sign, base prefix, `_` and `:` separators.
_NOT_DIGITS: Final = re.compile(r"^[-+]?(0[box])?|[_:]")
_CONSTRUCTOR: Final = SafeConstructor()


class TooComplexError(Exception):
    """The document expands too far, or an alias refers to itself: nothing of it is used."""

    def __init__(self, message: str, location: SourceLocation) -> None:
        super().__init__(message)
        self.location = location


class Builder:
    """Turns a composed node graph into plain data, checking what PyYAML lets through."""

    def __init__(self, display_path: str, depth: int) -> None:
        self.path = display_path
        #: Marks are recorded for paths up to this length; deeper nodes share their
        #: ancestor's path (already recorded), so no path tuple is built for them.
        self.depth = depth
        # 1-based (line, col) per path; SourceLocations are made only when asked for.
        self.marks: MarkMap = {}
        self.key_marks: MarkMap = {}
        self.diagnostics: list[Diagnostic] = []
        self._nodes = 0
        self.bad_tags = False
        self.bad_numbers = False
        self._active: set[int] = set()

    def loc(self, node: Node) -> SourceLocation:
        mark = node.start_mark
        return SourceLocation(self.path, mark.line + 1, mark.column + 1)

    def error(self, node: Node, rule: str, message: str) -> None:
        self.diagnostics.append(Diagnostic("error", message, self.loc(node), rule))

    def build(self, node: Node, path: Path_) -> Any:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            # Point at the top-level key whose value exploded, not at some deep leaf.
            top = self.key_marks.get(path[:1])
            where = SourceLocation(self.path, *top) if top else self.loc(node)
            raise TooComplexError(
                f"document expands to more than {MAX_NODES:,} values through aliases (an "
                "alias-expansion bomb?); write the values out or simplify the anchors",
                where,
            )
        if path not in self.marks:
            mark = node.start_mark
            self.marks[path] = (mark.line + 1, mark.column + 1)
        if isinstance(node, ScalarNode):
            return self.scalar(node)  # a scalar holds nothing an alias could loop through
        if id(node) in self._active:
            raise TooComplexError("recursive alias: this anchor refers to itself", self.loc(node))
        self._active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if node.tag != _SEQ:
                    self.bad_tag(node)
                if len(path) >= self.depth:
                    return [self.build(item, path) for item in node.value]
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            if isinstance(node, MappingNode):
                if node.tag != _MAP:
                    self.bad_tag(node)
                return self.mapping(node, path)
        finally:
            self._active.discard(id(node))
        raise AssertionError(f"unknown YAML node {node!r}")  # pragma: no cover

    def mapping(self, node: MappingNode, path: Path_) -> dict[str, Any]:
        explicit: dict[str, Any] = {}
        seen: dict[str, Node] = {}
        merged: dict[str, Any] = {}
        shallow = len(path) < self.depth
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.update(self.merge_sources(value_node, path, merged))
                continue
            if not isinstance(key_node, ScalarNode):
                self.error(key_node, "yaml-key-type", "mapping keys must be plain strings")
                continue
            # A key is its literal text: `on:` or `1:` stay strings instead of becoming
            # booleans or numbers, which is what a config file means by them.
            key = str(key_node.value)
            if key_node.tag not in (_STR, _INT, _FLOAT, _BOOL, _NULL, _TIMESTAMP):
                self.bad_tag(key_node)
            if key in seen:
                first = seen[key].start_mark
                line, col = first.line + 1, first.column + 1
                self.error(
                    key_node,
                    "yaml-duplicate-key",
                    f"duplicate key '{key}' (first defined at line {line}, col {col}); "
                    "YAML would silently keep only the last one",
                )
                continue
            seen[key] = key_node
            if shallow:
                child = (*path, key)
                mark = key_node.start_mark
                self.key_marks[child] = (mark.line + 1, mark.column + 1)
                explicit[key] = self.build(value_node, child)
            elif isinstance(value_node, ScalarNode) and self._nodes < MAX_NODES:
                # `build` for a leaf below the recorded depth, minus what cannot apply to it.
                self._nodes += 1
                explicit[key] = self.scalar(value_node)
            else:
                explicit[key] = self.build(value_node, path)
        # Explicit keys override merged ones (YAML merge-key semantics).
        for key, value in merged.items():
            explicit.setdefault(key, value)
        return explicit

    def merge_sources(self, node: Node, path: Path_, already: dict[str, Any]) -> dict[str, Any]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        out: dict[str, Any] = {}
        for source in sources:
            if not isinstance(source, MappingNode):
                self.error(source, "yaml-merge", "'<<' merges mappings only (use an alias)")
                continue
            data = self.build(source, path)
            for key, value in data.items():
                if key not in out and key not in already:
                    out[key] = value
        return out

    def scalar(self, node: ScalarNode) -> Any:
        tag = node.tag
        if tag in (_STR, _TIMESTAMP):
            # Dates stay as written: the API and the schema speak strings, not datetimes.
            return str(node.value)
        if tag == _INT:
            text = str(node.value)
            digits = len(_NOT_DIGITS.sub("", text)) if len(text) > MAX_INT_DIGITS else 0
            if digits > MAX_INT_DIGITS:
                self.bad_numbers = True
                self.error(
                    node,
                    "yaml-number-too-large",
                    f"this integer has {digits:,} digits, over the {MAX_INT_DIGITS}-digit "
                    "limit; write a number the field accepts",
                )
                return None
            return _CONSTRUCTOR.construct_yaml_int(node)
        if tag == _FLOAT:
            return _CONSTRUCTOR.construct_yaml_float(node)
        if tag == _BOOL:
            return _CONSTRUCTOR.construct_yaml_bool(node)
        if tag == _NULL:
            return None
        self.bad_tag(node)
        return str(node.value)

    def bad_tag(self, node: Node) -> None:
        self.bad_tags = True
        tag = str(node.tag)
        if tag.startswith(_TAG + "python/") or tag.startswith("!"):
            what = "language-specific or custom tags are not allowed"
        else:
            what = "this YAML type is not supported"
        shown = tag.replace(_TAG, "!!")
        self.error(node, "yaml-tag", f"tag {shown}: {what}; write a plain value")
