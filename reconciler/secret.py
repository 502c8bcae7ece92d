"""A wrapper that keeps secret strings out of reprs, logs and exception messages."""

from __future__ import annotations

import json
from typing import Final
from urllib.parse import quote, quote_plus

_MASK: Final = "***"


class Secret:
    """A string that only `reveal()` gives back; `str`, `repr` and f-strings show a mask."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({_MASK!r})"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret values are not picklable")


def spellings(value: str) -> frozenset[str]:
    """The ways `value` can be written out by whatever repeats it back: as is, JSON-escaped
    (ASCII or not, also nested once more, as a server quoting its own JSON does), form- or
    URL-encoded, and as a Python repr. Masking only the raw value misses a secret holding a
    quote, a backslash, `&`, `+` or a non-ASCII character once it has been re-encoded."""
    forms = {value}
    for _ in range(2):
        forms |= {json.dumps(f)[1:-1] for f in forms}
        forms |= {json.dumps(f, ensure_ascii=False)[1:-1] for f in forms}
    forms |= {quote_plus(value), quote(value, safe=""), quote(value), ascii(value)[1:-1]}
    forms.add(repr(value)[1:-1])
    return frozenset(f for f in forms if f)
