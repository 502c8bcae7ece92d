"""Writing YAML that reads back as meant: scalars every loader reads as the same string (dump),
and a ruamel.yaml round trip that reproduces a file exactly, so an edit changes only its lines.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from typing import Any, Final

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString
from ruamel.yaml.util import load_yaml_guess_indent

_PLAIN_UNSAFE_START: Final = tuple("-?:,[]{}#&*!|>'\"%@`")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]")
_BOM: Final = "\ufeff"


def yaml_scalar(value: str) -> str:
    """`value` as a YAML scalar that every YAML 1.1/1.2 loader reads back as this string:
    plain when unambiguous, else a JSON-style double-quoted string."""
    plain_ok = (
        value != ""
        and value == value.strip()
        and not value.startswith(_PLAIN_UNSAFE_START)
        and " #" not in value
        and ": " not in value
        and not value.endswith(":")
        and _CONTROL.search(value) is None
    )
    if plain_ok:
        try:
            if yaml.safe_load(f"v: {value}\n") == {"v": value}:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value, ensure_ascii=False)


def escape_literal(value: str) -> str:
    """A literal string as the loader must read it: `${` would start a reference, `$${` is a
    literal `${` (reconciler.load.references)."""
    return value.replace("${", "$${")


class RoundTrip:
    """One file's round-trip document plus the details needed to write it back identically
    (byte-order mark, CRLF line ends, indentation)."""

    def __init__(self, yaml: YAML, data: CommentedMap, bom: bool, crlf: bool) -> None:
        self.yaml = yaml
        self.data = data
        self.bom = bom
        self.crlf = crlf

    @classmethod
    def open(cls, original: str) -> RoundTrip | None:
        """The document of `original` (a mapping), or None unless dumping it unchanged gives
        `original` back exactly: no untouched line may change."""
        bom = original.startswith(_BOM)
        text = original.removeprefix(_BOM)
        crlf = "\r\n" in text
        text = text.replace("\r\n", "\n")
        try:
            _, sequence, offset = load_yaml_guess_indent(text)
            mapping = _mapping_indent(text)
            yaml = YAML()
            yaml.preserve_quotes = True
            yaml.width = 1_000_000
            if sequence is None:  # no block sequence: ruamel's guess is the mapping indent
                sequence, offset = mapping, 0
            yaml.indent(mapping=mapping, sequence=sequence, offset=offset or 0)
            data = yaml.load(text)
        except (YAMLError, ValueError, TypeError):
            return None
        if not isinstance(data, CommentedMap):
            return None
        doc = cls(yaml, data, bom, crlf)
        return doc if doc.text() == original else None

    def text(self) -> str:
        out = io.StringIO()
        self.yaml.dump(self.data, out)
        text = out.getvalue()
        if self.crlf:
            text = text.replace("\n", "\r\n")
        return (_BOM if self.bom else "") + text


def insert_ordered(node: CommentedMap, key: str, value: Any, order: Sequence[str]) -> None:
    """Add `key` where `order` puts it among the keys present (at the end if it is not in
    `order`)."""
    if key not in order:
        node[key] = value
        return
    later = order[order.index(key) + 1 :]
    keys = list(node.keys())
    position = next((i for i, k in enumerate(keys) if k in later), len(keys))
    node.insert(position, key, value)


def quoted_like(value: str, like: object = None) -> str:
    """A new string value (a literal: `${` escaped), quoted the way the old one, `like`, was
    when that keeps it a string."""
    literal = escape_literal(value)
    quoted: str = literal
    if isinstance(like, SingleQuotedScalarString) and "\n" not in literal:
        quoted = SingleQuotedScalarString(literal)
    elif isinstance(like, DoubleQuotedScalarString) or yaml_scalar(literal) != literal:
        quoted = DoubleQuotedScalarString(literal)
    return quoted


def _mapping_indent(text: str) -> int:
    """How far a nested mapping is indented under its key (2 unless the file says otherwise)."""
    parent: int | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if parent is not None and not stripped.startswith("-") and indent > parent:
            return indent - parent
        parent = indent if stripped.endswith(":") and not stripped.startswith("-") else None
    return 2
