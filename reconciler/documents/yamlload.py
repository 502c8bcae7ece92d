"""Strict, safe YAML loading that remembers where every value was written.

Used for connector files and cxrecon.yaml: one document, UTF-8, no duplicate keys, no
language tags, bounded alias expansion; problems become Diagnostics with exact line:col.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.documents.marks import TOP_DEPTH, LocationIndex, MarkMap, Marks
from reconciler.model import Diagnostic, SourceLocation

#: The PyYAML loader in use: libyaml's when PyYAML was built with it (much faster
#: composition, same nodes and marks), else the pure-Python one.
Loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)

#: A connector file is a few KiB; anything near this is a mistake or an attack.
MAX_FILE_BYTES: Final = 1024 * 1024
#: Nodes built per file after alias expansion (a 20-mapping connector has ~150).
MAX_NODES: Final = 100_000
#: Digits in one integer: no field takes more than a few; Python refuses to convert
#: 4,300-digit numbers to text at all, so a longer one would end in a traceback later.
MAX_INT_DIGITS: Final = 30

Path_ = tuple[str | int, ...]

_TAG: Final = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ, _MERGE, _TIMESTAMP = (_TAG + t for t in ("map", "seq", "merge", "timestamp"))
# C0 controls other than tab/LF/CR, DEL, C1 controls, and the non-characters YAML forbids.
_CONTROL: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]")
_TAB_INDENT: Final = re.compile(r"^[ ]*\t", re.MULTILINE)
#: What is not a digit in an integer's text: sign, base prefix, `_` and `:` separators.
_NOT_DIGITS: Final = re.compile(r"^[-+]?(0[box])?|[_:]")
_CONSTRUCTOR: Final = SafeConstructor()
_ALL: Final = 1 << 30  # a depth no document reaches: every path recorded


def compose(text: str) -> Node | None:
    """The node graph of one YAML document, with `Loader`'s parser and tag resolution."""
    loader = _MEMOIZED.get(Loader)
    if loader is None:
        loader = _MEMOIZED[Loader] = _memoized(Loader)
    return yaml.compose(text, Loader=loader)


_MEMOIZED: Final[dict[type[Any], type[Any]]] = {}


def _memoized(base: type[yaml.SafeLoader] | type[yaml.CSafeLoader]) -> type[Any]:
    """`base` resolving tags through a bounded cache: keys (`cxoneField`, `direction`, …)
    and many values repeat in every file, and resolution is a pure function of them while
    there are no path resolvers (the safe loaders have none). ~20% of composing."""
    if base.yaml_path_resolvers:
        return base
    resolver = base("")
    plain: Callable[[Any, str | None, Any], str] = resolver.resolve
    resolve = lru_cache(maxsize=4096)(plain)
    resolver.dispose()

    class Memoized(base):  # type: ignore[valid-type,misc]
        def resolve(self, kind: Any, value: str | None, implicit: Any) -> str:
            return resolve(kind, value, implicit)

        def descend_resolver(self, current_node: Node | None, current_index: Any) -> None:
            return None  # only path resolvers need the walk

        def ascend_resolver(self) -> None:
            return None

    return Memoized


def _all_marks(display_path: str, text: str) -> tuple[MarkMap, MarkMap]:
    """Every value's and key's mark, from a text that loaded cleanly before."""
    builder = _Builder(display_path, depth=_ALL)
    root = compose(text)
    if root is not None:
        builder.build(root, ())
    return builder.marks, builder.key_marks


@dataclass(frozen=True, slots=True)
class LoadedDocument:
    """Plain data (dict/list/str/int/float/bool/None) and where each value came from.

    `locations[path]` is where the value at `path` starts; `key_locations[path]` is where
    the key naming it is written (used for "unknown key" errors).
    """

    path: str
    data: Any
    locations: Mapping[Path_, SourceLocation] = field(default_factory=dict)
    key_locations: Mapping[Path_, SourceLocation] = field(default_factory=dict)

    def location_of(self, path: Path_) -> SourceLocation:
        """The closest recorded location for `path` (falls back to its parents)."""
        key = tuple(path)
        while key:
            found = self.locations.get(key)
            if found is not None:
                return found
            key = key[:-1]
        return self.locations.get((), SourceLocation(self.path, 1, 1))


@dataclass(frozen=True, slots=True)
class ParsedYaml:
    """The outcome of loading one file: a document unless a fatal problem stopped it."""

    document: LoadedDocument | None
    diagnostics: tuple[Diagnostic, ...]


def parse_yaml(raw: bytes, display_path: str, *, max_bytes: int = MAX_FILE_BYTES) -> ParsedYaml:
    """Load one YAML document from `raw`; never raises for bad input."""
    start = SourceLocation(display_path, 1, 1)
    if len(raw) > max_bytes:
        return _fatal(
            start,
            "yaml-size",
            f"file is {len(raw):,} bytes, over the {max_bytes:,}-byte limit for one "
            "desired-state file; split it or remove what does not belong",
        )
    text_or_diag = _decode(raw, display_path)
    if isinstance(text_or_diag, Diagnostic):
        return ParsedYaml(None, (text_or_diag,))
    text = text_or_diag
    problem = _lexical_problem(text, display_path)
    if problem is not None:
        return ParsedYaml(None, (problem,))
    try:
        root = compose(text)
    except yaml.MarkedYAMLError as exc:
        return ParsedYaml(None, (_syntax_diagnostic(exc, display_path),))
    except yaml.YAMLError as exc:  # reader errors our pre-checks did not anticipate
        return _fatal(start, "yaml-syntax", f"cannot read YAML: {exc}")
    if root is None:
        return _fatal(start, "yaml-empty", "file is empty (no YAML content); expected a mapping")
    builder = _Builder(display_path, depth=TOP_DEPTH)
    try:
        data = builder.build(root, ())
    except _TooComplexError as exc:
        return _fatal(exc.location, "yaml-too-complex", str(exc))
    if builder.bad_tags or builder.bad_numbers:
        # A value behind a foreign tag, or a number no field can hold, means nothing to us:
        # stop before schema noise about it.
        return ParsedYaml(None, tuple(builder.diagnostics))
    marks = Marks(display_path, text, builder.marks, builder.key_marks, _all_marks)
    document = LoadedDocument(
        display_path, data, LocationIndex(marks), LocationIndex(marks, keys=True)
    )
    return ParsedYaml(document, tuple(builder.diagnostics))


def _fatal(location: SourceLocation, rule: str, message: str) -> ParsedYaml:
    return ParsedYaml(None, (Diagnostic("error", message, location, rule),))


def _decode(raw: bytes, display_path: str) -> str | Diagnostic:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Diagnostic(
            "error",
            "file is UTF-16 encoded; save it as UTF-8",
            SourceLocation(display_path, 1, 1),
            "yaml-encoding",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        line_start = before.rfind(b"\n") + 1
        # Columns count characters, as editors do; the prefix of the line is valid UTF-8.
        col = len(raw[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        return Diagnostic(
            "error",
            f"file is not valid UTF-8: byte 0x{raw[exc.start]:02x} cannot appear here; "
            "save the file as UTF-8",
            SourceLocation(display_path, line, col),
            "yaml-encoding",
        )
    return text.removeprefix("\ufeff")


def _lexical_problem(text: str, display_path: str) -> Diagnostic | None:
    """Tabs in indentation and control characters, with better locations than the parser's."""
    if "\t" in text:
        match = _TAB_INDENT.search(text)
        if match is not None:
            offset = match.end() - 1
            return Diagnostic(
                "error",
                "tab character in indentation; YAML indents with spaces only",
                _location_at(text, offset, display_path),
                "yaml-tab",
            )
    match = _CONTROL.search(text)
    if match is not None:
        return Diagnostic(
            "error",
            f"control character U+{ord(match.group()):04X} is not allowed in YAML; remove it",
            _location_at(text, match.start(), display_path),
            "yaml-control-character",
        )
    return None


def _location_at(text: str, offset: int, display_path: str) -> SourceLocation:
    line = text.count("\n", 0, offset) + 1
    return SourceLocation(display_path, line, offset - (text.rfind("\n", 0, offset) + 1) + 1)


def _syntax_diagnostic(exc: yaml.MarkedYAMLError, display_path: str) -> Diagnostic:
    unclosed = exc.context == "while scanning a quoted scalar" and str(exc.problem).startswith(
        "found unexpected"  # end of stream, or a `---` / `...` line
    )
    if unclosed and exc.context_mark is not None:
        # The parser notices at the end of the file (or the next `---`); the mistake is the
        # opening quote, which the context mark points at.
        start = exc.context_mark
        return Diagnostic(
            "error",
            "YAML syntax error: the quoted value starting here is never closed; add the "
            "closing quote (a quoted value may span lines, so the parser read to the end)",
            SourceLocation(display_path, start.line + 1, start.column + 1),
            "yaml-syntax",
        )
    mark = exc.problem_mark or exc.context_mark
    location = (
        SourceLocation(display_path, mark.line + 1, mark.column + 1)
        if mark is not None
        else SourceLocation(display_path, 1, 1)
    )
    if exc.problem and "another document" in exc.problem:
        return Diagnostic(
            "error",
            "a second YAML document starts here; keep exactly one connector per file",
            location,
            "yaml-multiple-documents",
        )
    parts = [p for p in (exc.context, exc.problem) if p]
    detail = "; ".join(parts) if parts else "malformed YAML"
    return Diagnostic("error", f"YAML syntax error: {detail}", location, "yaml-syntax")


class _TooComplexError(Exception):
    def __init__(self, message: str, location: SourceLocation) -> None:
        super().__init__(message)
        self.location = location


class _Builder:
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
            raise _TooComplexError(
                f"document expands to more than {MAX_NODES:,} values through aliases (an "
                "alias-expansion bomb?); write the values out or simplify the anchors",
                where,
            )
        if id(node) in self._active:
            raise _TooComplexError("recursive alias: this anchor refers to itself", self.loc(node))
        if path not in self.marks:
            mark = node.start_mark
            self.marks[path] = (mark.line + 1, mark.column + 1)
        if isinstance(node, ScalarNode):
            return self.scalar(node)
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
