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
from yaml.nodes import Node

from reconciler.documents.marks import TOP_DEPTH, LocationIndex, MarkMap, Marks, Path_
from reconciler.documents.yamlbuild import Builder, TooComplexError
from reconciler.model import Diagnostic, SourceLocation

#: The PyYAML loader in use: libyaml's when PyYAML was built with it (much faster
#: composition, same nodes and marks), else the pure-Python one.
Loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)

#: A connector file is a few KiB; anything near this is a mistake or an attack.
MAX_FILE_BYTES: Final = 1024 * 1024
# C0 controls other than tab/LF/CR, DEL, C1 controls, and the non-characters YAML forbids.
_CONTROL: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]")
_TAB_INDENT: Final = re.compile(r"^[ ]*\t", re.MULTILINE)
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
    resolver.dispose()

    class Memoized(base):  # type: ignore[valid-type,misc]
        # Called for every node: the cache and the no-ops are C callables, so no Python
        # frame is entered per node (~8% of composing).
        resolve = staticmethod(lru_cache(maxsize=4096)(plain))
        # Only path resolvers need the walk: `slice(node, index)` and `tuple()` take the
        # arguments and do nothing with them.
        descend_resolver = staticmethod(slice)
        ascend_resolver = staticmethod(tuple)

    return Memoized


def _all_marks(display_path: str, text: str) -> tuple[MarkMap, MarkMap]:
    """Every value's and key's mark, from a text that loaded cleanly before."""
    builder = Builder(display_path, depth=_ALL)
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
    builder = Builder(display_path, depth=TOP_DEPTH)
    try:
        data = builder.build(root, ())
    except TooComplexError as exc:
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
