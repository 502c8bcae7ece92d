"""Where each value and key of a loaded YAML document is written, kept cheaply: the top
level recorded while loading, everything deeper re-derived from the text when first asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Final

from reconciler.model import SourceLocation

Path_ = tuple[str | int, ...]
#: 1-based (line, col) per path inside a document.
MarkMap = dict[Path_, tuple[int, int]]
#: Paths up to this length are recorded while loading (the root and top-level keys).
TOP_DEPTH: Final = 1


class Marks:
    """The marks of one document's values and keys.

    Only paths up to TOP_DEPTH are recorded while loading (every load asks where `name` is);
    the rest come from `rebuild(display_path, text)` on the first deeper look-up. Only
    diagnostics, annotations and write-back look that deep, and 10,000 valid connectors
    would otherwise keep ~200 marks each (~25 KiB per 20-mapping connector).
    """

    __slots__ = ("_full", "_rebuild", "display_path", "keys", "text", "values")

    def __init__(
        self,
        display_path: str,
        text: str,
        values: MarkMap,
        keys: MarkMap,
        rebuild: Callable[[str, str], tuple[MarkMap, MarkMap]],
    ) -> None:
        self.display_path = display_path
        self.text = text
        self.values = values
        self.keys = keys
        self._rebuild = rebuild
        self._full: tuple[MarkMap, MarkMap] | None = None

    def full(self) -> tuple[MarkMap, MarkMap]:
        """(values, keys) for every path."""
        if self._full is None:
            # Same text, same loader, same walk: the same document, now with every mark.
            self._full = self._rebuild(self.display_path, self.text)
        return self._full


class LocationIndex(Mapping[Path_, SourceLocation]):
    """Path → SourceLocation for a document's values (or, with `keys`, for its keys).

    SourceLocations are made only when asked for; paths below the top level are looked up
    in marks re-derived from the document's text (see `Marks`).
    """

    __slots__ = ("_keys", "_marks")

    def __init__(self, marks: Marks, *, keys: bool = False) -> None:
        self._marks = marks
        self._keys = keys

    def _shallow(self) -> MarkMap:
        return self._marks.keys if self._keys else self._marks.values

    def _all(self) -> MarkMap:
        values, keys = self._marks.full()
        return keys if self._keys else values

    def _lookup(self, key: object) -> tuple[int, int] | None:
        if not isinstance(key, tuple):
            return None
        if len(key) <= TOP_DEPTH:
            return self._shallow().get(key)  # complete for these paths: no re-parse
        return self._all().get(key)

    def __getitem__(self, key: Path_) -> SourceLocation:
        mark = self._lookup(key)
        if mark is None:
            raise KeyError(key)
        return SourceLocation(self._marks.display_path, *mark)

    def __contains__(self, key: object) -> bool:
        return self._lookup(key) is not None

    def __iter__(self) -> Iterator[Path_]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())
