"""The progress of CRM data syncs on a terminal: a one-line redrawn bar on a TTY, plain lines
(one per state change) in CI and when redirected."""

from __future__ import annotations

import os
from typing import TextIO

from reconciler.apply.datasync import SyncOutcome, SyncTarget
from reconciler.model import SyncJob


class SyncProgress:
    """A one-line, redrawn progress bar on a TTY; plain lines (one per state change) otherwise.

    `transient`: the caller prints each outcome itself, so on a TTY the bar is erased once
    every sync has finished instead of being left behind as a second copy of the result.
    """

    def __init__(
        self, stream: TextIO, *, tty: bool, total: int, width: int = 24, transient: bool = False
    ) -> None:
        self._stream = stream
        self._tty = tty
        self._transient = transient
        self._total = total
        self._width = width
        self._done = 0
        self._failed = 0
        self._last_status: dict[str, str] = {}
        self._drawn = False

    def started(self, target: SyncTarget, sync_id: str) -> None:
        self._last_status[target.name] = "PENDING"
        if self._tty:
            self._redraw(f"{target.name} started")
        else:
            self._line(f"sync {target.name}: started (sync {sync_id})")

    def polled(self, target: SyncTarget, job: SyncJob) -> None:
        changed = self._last_status.get(target.name) != job.status
        self._last_status[target.name] = job.status
        if self._tty:
            self._redraw(f"{target.name} {job.status} ({job.records_processed:,} records)")
        elif changed and not job.finished:
            self._line(f"sync {target.name}: {job.status} ({job.records_processed:,} records)")

    def finished(self, outcome: SyncOutcome) -> None:
        self._done += 1
        self._failed += 0 if outcome.ok else 1
        if self._tty and self._transient and self._done >= self._total:
            self._erase()
        elif self._tty:
            self._redraw(f"{outcome.target.name} {outcome.status}")
        else:
            self._line(f"sync {outcome.describe()}")

    def close(self) -> None:
        if self._tty and self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False

    def _redraw(self, last: str) -> None:
        filled = self._width * self._done // max(self._total, 1)
        bar = "#" * filled + "-" * (self._width - filled)
        failed = f", {self._failed} failed" if self._failed else ""
        text = f"syncing [{bar}] {self._done}/{self._total} done{failed} · {last}"
        self._stream.write("\r\x1b[2K" + text)
        self._stream.flush()
        self._drawn = True

    def _erase(self) -> None:
        if self._drawn:
            self._stream.write("\r\x1b[2K")
            self._stream.flush()
            self._drawn = False

    def _line(self, text: str) -> None:
        self._stream.write(text + "\n")
        self._stream.flush()


def progress_for(stream: TextIO, total: int, *, transient: bool = False) -> SyncProgress:
    """A redrawn bar on an interactive terminal; plain lines in CI and when redirected.
    `transient`: the caller prints the outcomes, so the bar is erased when they are done."""
    isatty = getattr(stream, "isatty", None)
    tty = bool(isatty and isatty()) and not os.environ.get("CI")
    return SyncProgress(stream, tty=tty, total=total, transient=transient)
