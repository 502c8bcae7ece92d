"""A load holds the garbage collector back while it runs and puts its thresholds back
after, also when loads overlap in threads or one fails."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.load.collector import LOADING_THRESHOLD, collecting_less
from reconciler.load.desired import read_desired


@pytest.fixture(autouse=True)
def default_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_a_load_raises_the_threshold_and_puts_it_back(tmp_path: Path) -> None:
    seen: list[tuple[int, int, int]] = []

    class Probe:
        def recall(self, *args: object) -> None:
            seen.append(gc.get_threshold())

        def keep(self, *args: object) -> None:
            return None

    (tmp_path / "a.yaml").write_text("name: A\n", encoding="utf-8")
    read_desired(tmp_path, memo=Probe())
    assert seen == [(LOADING_THRESHOLD, 10, 10)]
    assert gc.get_threshold() == (700, 10, 10)


def test_overlapping_loads_share_one_raise_and_the_last_puts_it_back() -> None:
    first_in, second_done = threading.Event(), threading.Event()

    def first() -> None:
        with collecting_less():
            first_in.set()
            assert second_done.wait(10)
            assert gc.get_threshold()[0] == LOADING_THRESHOLD

    worker = threading.Thread(target=first)
    worker.start()
    assert first_in.wait(10)
    with collecting_less():
        assert gc.get_threshold()[0] == LOADING_THRESHOLD
    second_done.set()
    worker.join(10)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_failed_load_puts_the_threshold_back() -> None:
    with pytest.raises(RuntimeError), collecting_less():
        raise RuntimeError("load failed")
    assert gc.get_threshold() == (700, 10, 10)
