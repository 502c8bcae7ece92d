"""A schema compiled for the Rust validator (jsonschema_rs) that answers "valid?" first:
local `$ref`s inlined, and every regex carried over to the Rust dialect with Python's meaning
(or no fast validator at all, when a pattern cannot be), so both validators judge alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import jsonschema_rs


def fast_validator(schema: Mapping[str, Any]) -> jsonschema_rs.Validator | None:
    """A Rust validator judging as `jsonschema` does, or None when `schema` uses a regex
    construct that cannot be carried over to the Rust dialect with the same meaning."""
    try:
        translated = _rust_patterns(schema)
        return jsonschema_rs.Draft202012Validator(
            translated,
            # `jsonschema` treats `format` as an annotation unless given a format checker.
            validate_formats=False,
            # The linear-time engine: no backtracking limit to run into on hostile input.
            pattern_options=jsonschema_rs.RegexOptions(),
        )
    except (_UnportablePatternError, ValueError):  # jsonschema_rs.ValidationError included
        return None


#: Python's `\s` (str.isspace; Unicode has no white space above U+3000). The Rust dialect's
#: `\s` leaves out U+001C..U+001F and U+0085, so patterns get this explicit set instead.
PYTHON_WHITESPACE: Final = "".join(f"\\x{{{c:x}}}" for c in range(0x3001) if chr(c).isspace())
#: Python's `$` (without re.MULTILINE): the end, or just before a newline that ends the text.
_PYTHON_END: Final = r"(?:\n?\z)"
#: Escapes whose meaning differs between Python's `re` and the Rust dialect (Unicode `\d`,
#: word boundaries, `\Z`, …): a schema using one is validated by `jsonschema` alone.
_UNPORTABLE_ESCAPES: Final = frozenset("dDwWbBAZz")
#: Keywords whose values are data, not schemas: never translated.
_DATA_KEYWORDS: Final = frozenset({"enum", "const", "default", "examples"})


class _UnportablePatternError(Exception):
    pass


def rust_pattern(pattern: str) -> str:
    """`pattern` for the Rust validator, meaning what it means to Python's `re`: white-space
    classes spelled out, `$` allowing a final newline; raises for constructs that differ."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            escaped = pattern[i + 1]
            if escaped in _UNPORTABLE_ESCAPES or (escaped == "S" and in_class):
                raise _UnportablePatternError(pattern)
            if escaped == "s":
                out.append(PYTHON_WHITESPACE if in_class else f"[{PYTHON_WHITESPACE}]")
            elif escaped == "S" and not in_class:
                out.append(f"[^{PYTHON_WHITESPACE}]")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
            opening = "[^" if pattern.startswith("[^", i) else "["
            if pattern.startswith("]", i + len(opening)):
                # `[]…]` holds a literal `]` in Python but is an empty class in ECMA regexes.
                raise _UnportablePatternError(pattern)
            out.append(opening)
            i += len(opening)
            continue
        if char == "]" and in_class:
            in_class = False
        elif char == "$" and not in_class:
            char = _PYTHON_END  # Python's `$` also matches before a final newline
        out.append(char)
        i += 1
    return "".join(out)


def _rust_patterns(node: Any) -> Any:
    """A copy of a schema with every regex (`pattern`, `patternProperties` keys) translated."""
    if isinstance(node, list):
        return [_rust_patterns(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DATA_KEYWORDS:
            out[key] = value
        elif key == "pattern" and isinstance(value, str):
            out[key] = rust_pattern(value)
        elif key in ("properties", "$defs", "dependentSchemas") and isinstance(value, Mapping):
            # Names of properties, not schemas: a property called "pattern" is no regex.
            out[key] = {name: _rust_patterns(sub) for name, sub in value.items()}
        elif key == "patternProperties" and isinstance(value, Mapping):
            out[key] = {rust_pattern(rx): _rust_patterns(sub) for rx, sub in value.items()}
        else:
            out[key] = _rust_patterns(value)
    return out


_ANNOTATIONS: Final = frozenset({"description", "title", "examples", "default", "$comment"})


def inline_refs(node: Any, root: Mapping[str, Any]) -> Any:
    """Replace local `{"$ref": "#/$defs/x"}` (with only annotations beside it) by its target.

    The published schema keeps its `$ref`s for readers; the compiled copy needs none.
    """
    if isinstance(node, list):
        return [inline_refs(item, root) for item in node]
    if not isinstance(node, Mapping):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/") and set(node) - {"$ref"} <= _ANNOTATIONS:
        target = root["$defs"][ref.removeprefix("#/$defs/")]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return inline_refs(merged, root)
    return {key: inline_refs(value, root) for key, value in node.items()}
