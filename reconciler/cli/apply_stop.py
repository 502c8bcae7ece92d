"""How `cxrecon apply` stops on SIGINT/SIGTERM once it writes: no new write starts, writes in
flight get a bounded time to answer (their outcomes recorded), then what was and was not
written is said and the exit code is 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from reconciler import Outcome

if TYPE_CHECKING:
    from reconciler import AuditLog, ConnectorResult

#: Seconds writes in flight may take to answer after a stop was asked (then cancelled, their
#: outcome recorded as unknown); CXRECON_STOP_GRACE_SECONDS overrides it.
DEFAULT_GRACE: Final = 10.0
_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


def grace_seconds(environ: dict[str, str] | None = None) -> float:
    raw = (environ if environ is not None else dict(os.environ)).get("CXRECON_STOP_GRACE_SECONDS")
    try:
        value = float(raw) if raw else DEFAULT_GRACE
    except ValueError:
        return DEFAULT_GRACE
    return min(max(value, 0.0), 600.0)


class Interruption:
    """The signals one apply run listens to. Before its writes start (`writing()`), a
    signal cancels the run at once (nothing is written); after, it stops new writes and
    cancels the run only once `grace` seconds have passed (or at a second signal)."""

    def __init__(self, grace: float, tell: Callable[[str], None]) -> None:
        self.grace = grace
        self.signal: int | None = None
        self._tell = tell
        self._writing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def exit_code(self) -> int:
        return 128 + (self.signal or signal.SIGINT)

    def allows_write(self) -> bool:
        return self.signal is None

    def install(self) -> None:
        """Listen for SIGTERM (Ctrl-C stays asyncio's until the writes start)."""
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            self._loop.add_signal_handler(signal.SIGTERM, self._received, signal.SIGTERM)

    def writing(self) -> None:
        """The writes start: from now on a signal stops them gracefully."""
        self._writing = True
        if self._loop is None:
            return
        for signum in _SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                self._loop.add_signal_handler(signum, self._received, signum)

    def uninstall(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._loop is None:
            return
        for signum in _SIGNALS if self._writing else (signal.SIGTERM,):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                self._loop.remove_signal_handler(signum)

    def _received(self, signum: int) -> None:
        first = self.signal is None
        if first:
            self.signal = signum
        if not self._writing or not first:
            self._cancel()
            return
        name = signal.Signals(signum).name
        self._tell(
            f"{name}: stopping; no new write starts, waiting up to {self.grace:g}s for the "
            "writes in flight to answer (a second signal stops waiting)"
        )
        if self._loop is not None:
            self._timer = self._loop.call_later(self.grace, self._cancel)

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()


def stopped_summary(
    signum: int | None,
    planned: int,
    results: Sequence[ConnectorResult],
    audit: AuditLog,
) -> str:
    """What an interrupted apply wrote and did not: one paragraph for stderr."""
    name = signal.Signals(signum).name if signum else "an interruption"
    written = [r for r in results if r.writes]
    writes = audit.outcome_count("success")
    unknown = audit.unknown_connectors()
    finished = {r.name for r in results if r.outcome is not Outcome.SKIPPED}
    not_written = max(planned - len(finished), 0)
    parts = [
        f"Interrupted by {name}: {writes} write{'' if writes == 1 else 's'} made "
        f"({len(written)} connector{'' if len(written) == 1 else 's'})"
    ]
    if unknown:
        parts.append(
            f"{len(unknown)} write{'' if len(unknown) == 1 else 's'} whose answer never came "
            f"({', '.join(sorted(set(unknown)))}): recorded as unknown in {audit.path}, read "
            "back by the next apply"
        )
    parts.append(f"{not_written} connector{'' if not_written == 1 else 's'} not written")
    return (
        "; ".join(parts)
        + ". Run apply again to finish: it re-reads the tenant and sends only what is missing."
    )
