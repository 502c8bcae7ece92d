"""Checking many files at once: on a machine with more than one core, helper processes take
part of a large load (the checks are pure Python, so threads would share one core).

The files are cut into chunks of about `CHUNK_BYTES`. This process checks chunks from the
front while each helper is fed chunks from the back, so both sides finish together whatever
the files cost. A helper is a fresh interpreter (`python -P -m reconciler.load.helper`: the
working directory, a repository under review, is not on its import path) that reads pickled
chunks on stdin and answers with the checked files on stdout; it is ours, started by us,
over a pipe no one else holds. The result is exactly that of checking every file here:
`check_file` depends only on the bytes, the context and the files `${file:}` references
reach, which a helper on the same machine sees the same way.

Nothing is lost when a helper fails (it cannot start, dies, or its check raises): its chunk
is checked here instead, and it gets no more. Helpers ignore Ctrl-C (this process stops them
on the way out) and exit when their stdin closes, so none outlives the load.

`CXRECON_LOAD_WORKERS`: unset or `auto` chooses by size (helpers only from `MIN_BYTES` on,
one per `MIN_BYTES`, at most one per spare core and `MAX_HELPERS`); `0` never starts one;
a number N starts N whenever there are at least two chunks (tests, benchmarks).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Sequence
from typing import IO, Any, Final

from reconciler.load.checked import CheckedFile, LoadContext, check_file

#: Bytes of YAML below which no helper is started: starting one (an interpreter importing
#: the loader) takes ~0.2 s and checking 2 MiB ~0.6 s, so from here a helper's share of the
#: work outweighs its start.
MIN_BYTES: Final = 2 * 1024 * 1024
#: Bytes per chunk (~40 ms of checking): both sides finish within one chunk of each other.
CHUNK_BYTES: Final = 128 * 1024
MAX_HELPERS: Final = 8
SETTING: Final = "CXRECON_LOAD_WORKERS"
_HEADER: Final = struct.Struct(">Q")

Item = tuple[bytes, str]  # a file's bytes and how messages name it


def check_all(items: Sequence[Item], context: LoadContext) -> tuple[list[CheckedFile], int]:
    """Every item checked (in order), and how many helper processes took part (checked at
    least one chunk)."""
    chunks = _chunks(items)
    count = helper_count(sum(len(raw) for raw, _ in items), len(chunks))
    if count == 0:
        return [check_file(raw, display, context) for raw, display in items], 0
    return _Shared(chunks, context).run(count)


def helper_count(total_bytes: int, chunks: int) -> int:
    """How many helpers a load of `total_bytes` in `chunks` chunks gets (see the module)."""
    if chunks < 2 or not sys.executable:
        return 0
    setting = os.environ.get(SETTING, "").strip().lower()
    if setting not in ("", "auto"):
        try:
            wanted = int(setting)
        except ValueError:
            wanted = -1
        if wanted >= 0:
            return min(wanted, chunks - 1, MAX_HELPERS)
        # An unreadable setting is taken as `auto`: a load must not fail over a tuning knob.
    if total_bytes < MIN_BYTES:
        return 0
    return max(0, min(_cores() - 1, total_bytes // MIN_BYTES, chunks - 1, MAX_HELPERS))


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _chunks(items: Sequence[Item]) -> list[list[Item]]:
    chunks: list[list[Item]] = []
    current: list[Item] = []
    size = 0
    for item in items:
        current.append(item)
        size += len(item[0])
        if size >= CHUNK_BYTES:
            chunks.append(current)
            current, size = [], 0
    if current:
        chunks.append(current)
    return chunks


class _Shared:
    """The chunks, taken from the front by this process and from the back by helpers."""

    def __init__(self, chunks: list[list[Item]], context: LoadContext) -> None:
        self.context = context
        self.todo: deque[int] = deque(range(len(chunks)))
        self.chunks = chunks
        self.done: list[list[CheckedFile] | None] = [None] * len(chunks)
        self.busy = 0  # chunks a helper holds
        self.changed = threading.Condition()

    def run(self, count: int) -> tuple[list[CheckedFile], int]:
        helpers = [_Helper(self) for _ in range(count)]
        try:
            for helper in helpers:
                helper.start()
            while True:
                with self.changed:
                    while not self.todo and self.busy:
                        self.changed.wait()
                    if not self.todo:
                        break
                    index = self.todo.popleft()
                chunk = self.chunks[index]
                self.done[index] = [check_file(raw, name, self.context) for raw, name in chunk]
        except BaseException:
            for helper in helpers:
                helper.stop(interrupted=True)
            raise
        for helper in helpers:
            helper.stop(interrupted=False)
        out: list[CheckedFile] = []
        for checked in self.done:
            assert checked is not None  # every chunk was taken by someone who finished it
            out.extend(checked)
        return out, sum(1 for helper in helpers if helper.answered)

    def take(self) -> int | None:
        """The next chunk for a helper (from the back), or None when none is left."""
        with self.changed:
            if not self.todo:
                return None
            self.busy += 1
            return self.todo.pop()

    def finish(self, index: int, checked: list[CheckedFile] | None) -> None:
        """A helper's answer for chunk `index`; None gives the chunk back (the helper failed)."""
        with self.changed:
            self.busy -= 1
            if checked is None:
                self.todo.appendleft(index)  # checked here next
            else:
                self.done[index] = checked
            self.changed.notify_all()


class _Helper:
    """One helper process and the thread that feeds it (the thread waits on the pipe, so
    it holds no core while the helper works)."""

    def __init__(self, shared: _Shared) -> None:
        self.shared = shared
        self.process: subprocess.Popen[bytes] | None = None
        self.started = threading.Event()  # `process` is set (or will never be)
        self.stopping = threading.Event()
        self.answered = 0  # chunks it checked
        self.thread = threading.Thread(target=self._feed, name="cxrecon-load-helper", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, interrupted: bool) -> None:
        """Wait for the thread and the process; when the load was `interrupted`, kill the
        process first (its chunk no longer matters)."""
        self.stopping.set()
        if self.thread.ident is None:
            return  # never started
        self.started.wait()
        process = self.process
        if process is not None and interrupted:
            process.kill()  # the thread's read ends at once
        self.thread.join()
        if process is None:
            return
        try:
            process.wait(timeout=5)  # its stdin is closed: it is on its way out
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _feed(self) -> None:
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-P", "-m", "reconciler.load.helper"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
        except (OSError, ValueError):
            return  # no helper: this process checks everything
        finally:
            self.started.set()
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        try:
            send(stdin, self.shared.context)
            while not self.stopping.is_set() and (index := self.shared.take()) is not None:
                checked: list[CheckedFile] | None = None
                try:
                    send(stdin, self.shared.chunks[index])
                    answer = receive(stdout)
                    if isinstance(answer, list):
                        checked = answer
                        self.answered += 1
                finally:
                    self.shared.finish(index, checked)
                if checked is None:
                    return  # it failed once: it gets no more
        except (OSError, EOFError, ValueError, pickle.UnpicklingError):
            return  # a broken pipe or a dead helper: its chunk went back above
        finally:
            for stream in (stdin, stdout):
                with contextlib.suppress(OSError):
                    stream.close()  # a closed stdin tells the helper to exit


def send(stream: IO[bytes], value: Any) -> None:
    """One message: its length, then its pickle."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def receive(stream: IO[bytes]) -> Any:
    """The next message; EOFError when the stream ends."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("the other side closed the pipe")
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the other side closed the pipe mid-message")
    # Both ends of the pipe are cxrecon: this process and the helper it started.
    return pickle.loads(data)  # noqa: S301
