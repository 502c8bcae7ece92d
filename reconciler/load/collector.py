"""Python's cyclic garbage collector held back while a load builds the desired state: every
file's data, locations and connector live on, so with the default thresholds the collector
walks all of them again and again (16 full collections in a load of 10,000 files, about a
tenth of its time) and finds nothing to free."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

#: Allocations between youngest-generation collections while loading (default 700); the
#: older generations then run rarely too. Garbage without cycles is freed as always.
LOADING_THRESHOLD: Final = 100_000

_lock = threading.Lock()
_loads = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def collecting_less() -> Iterator[None]:
    """Raise the collector's threshold for the duration; loads running at once (threads)
    share one raise, and the last to finish puts back what was there before the first."""
    global _loads, _saved
    with _lock:
        if _loads == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(max(_saved[0], LOADING_THRESHOLD), _saved[1], _saved[2])
        _loads += 1
    try:
        yield
    finally:
        with _lock:
            _loads -= 1
            if _loads == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
