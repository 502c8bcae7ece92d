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

Nothing is lost when a helper fails (it cannot start, dies, its check raises, or it answers
nothing for `STALL_SECONDS`): its chunks are checked here instead, and it gets no more.
Helpers ignore Ctrl-C (this process stops them on the way out) and exit when their stdin
closes, so none outlives the load.

`CXRECON_LOAD_WORKERS`: unset or `auto` chooses by size (helpers only from `MIN_BYTES` on,
one per `MIN_BYTES`, at most one per spare core, a container's CPU quota counted, and
`MAX_HELPERS`); `0` never starts one;
a number N starts N whenever there are at least two chunks (tests, benchmarks). Not on
Windows, whose pipes `select` cannot wait on: there every load stays in one process.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import struct
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Final

from reconciler.load.checked import CheckedFile, LoadContext, check_file

#: Bytes of YAML below which no helper is started: starting one (an interpreter importing
#: the loader) takes ~0.2 s and checking 2 MiB ~0.6 s, so from here a helper's share of the
#: work outweighs its start.
MIN_BYTES: Final = 2 * 1024 * 1024
#: Bytes per chunk (~20 ms of checking): this process serves the helpers between its own
#: chunks, and one chunk fits in a pipe's buffer beside the one a helper works on.
CHUNK_BYTES: Final = 48 * 1024
MAX_HELPERS: Final = 8
#: Larger than any chunk or answer (files are at most 1 MiB each): a header saying more is
#: not ours (whatever printed it is not a helper), and is not read.
MAX_MESSAGE_BYTES: Final = 1 << 30
#: A helper that answers nothing for this long (a chunk takes milliseconds) is given up on.
STALL_SECONDS: Final = 60.0
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
    if chunks < 2 or not sys.executable or os.name == "nt":
        return 0  # (Windows: its pipes cannot be waited on with select)
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
    """The cores this process may use: its CPU affinity, and a container's CPU quota."""
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    quota = quota_cpus()
    return min(cores, quota) if quota is not None else cores


def quota_cpus(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Whole CPUs a cgroup CPU quota allows (at least 1), None without one: a container
    limited to 2 CPUs on a 64-core host sees 64 in its affinity (cgroup v2 `cpu.max`,
    v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`)."""
    try:
        limit, period = (root / "cpu.max").read_text(encoding="ascii").split()[:2]
        return None if limit == "max" else max(1, int(limit) // int(period))
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text(encoding="ascii"))
        each = int((root / "cpu" / "cpu.cfs_period_us").read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None
    return max(1, quota // each) if quota > 0 and each > 0 else None


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
    """The chunks, taken from the front by this process and from the back by helpers. This
    process also does the helpers' pipe I/O, between its own chunks: a thread doing it would
    wait for the interpreter lock every time the checks hold it, and leave the helpers idle."""

    def __init__(self, chunks: list[list[Item]], context: LoadContext) -> None:
        self.context = context
        self.todo: deque[int] = deque(range(len(chunks)))
        self.chunks = chunks
        self.done: list[list[CheckedFile] | None] = [None] * len(chunks)

    def run(self, count: int) -> tuple[list[CheckedFile], int]:
        helpers: list[_Helper] = []
        try:
            for _ in range(count):
                helper = _Helper.start(self.context)
                if helper is not None:
                    helpers.append(helper)
            while True:
                live = [h for h in helpers if h.alive]
                for helper in live:
                    self._feed(helper)
                if self.todo:
                    self._collect(live, wait=False)
                    index = self.todo.popleft()
                    chunk = self.chunks[index]
                    self.done[index] = [check_file(raw, name, self.context) for raw, name in chunk]
                elif any(h.holding for h in live):
                    self._collect(live, wait=True)
                else:
                    break
        finally:
            for helper in helpers:
                helper.stop()
        out: list[CheckedFile] = []
        for checked in self.done:
            assert checked is not None  # every chunk was checked here or by a helper
            out.extend(checked)
        return out, sum(1 for helper in helpers if helper.answered)

    def _feed(self, helper: _Helper) -> None:
        """Up to two chunks queued with `helper` (it works on one while the next waits)."""
        while len(helper.holding) < _QUEUED and self.todo:
            index = self.todo.pop()
            if not helper.send_chunk(index, self.chunks[index]):
                self.todo.append(index)
                self._give_back(helper)
                return

    def _collect(self, live: list[_Helper], wait: bool) -> None:
        """Take in the answers that are ready (with `wait`: wait for at least one)."""
        waiting = {h.stdout.fileno(): h for h in live if h.holding}
        if not waiting:
            return
        ready, _, _ = select.select(list(waiting), [], [], STALL_SECONDS if wait else 0)
        if wait and not ready:
            for helper in waiting.values():  # stuck: whatever they hold is checked here
                self._give_back(helper)
            return
        for fileno in ready:
            helper = waiting[fileno]
            index, checked = helper.receive_answer()
            if checked is None:
                self._give_back(helper)
            else:
                self.done[index] = checked

    def _give_back(self, helper: _Helper) -> None:
        """A failed helper's chunks go back to this process; it gets no more."""
        self.todo.extendleft(reversed(helper.holding))
        helper.holding.clear()
        helper.alive = False
        helper.failed = True


#: Chunks queued with one helper at a time: one it works on, one waiting in the pipe.
_QUEUED: Final = 2


class _Helper:
    """One helper process: the chunks sent to it and not yet answered, in order."""

    def __init__(
        self, process: subprocess.Popen[bytes], stdin: IO[bytes], stdout: IO[bytes]
    ) -> None:
        self.process = process
        self.stdin = stdin
        self.stdout = stdout
        self.holding: deque[int] = deque()
        self.alive = True
        self.failed = False
        self.answered = 0  # chunks it checked

    @classmethod
    def start(cls, context: LoadContext) -> _Helper | None:
        try:
            process = subprocess.Popen(
                [sys.executable, "-P", "-m", "reconciler.load.helper"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
        except (OSError, ValueError):
            return None  # no helper: this process checks its share
        assert process.stdin is not None
        assert process.stdout is not None
        helper = cls(process, process.stdin, process.stdout)
        if not helper._send(context):
            helper.stop()
            return None
        return helper

    def send_chunk(self, index: int, chunk: list[Item]) -> bool:
        if not self._send(chunk):
            return False
        self.holding.append(index)
        return True

    def receive_answer(self) -> tuple[int, list[CheckedFile] | None]:
        """The answer to the oldest chunk held: its index and the checked files, or None
        when the helper failed (then it is no longer alive)."""
        index = self.holding[0]
        try:
            answer = receive(self.stdout)
        except Exception:  # a closed pipe, or not our answer: no helper of ours
            answer = None
        if not isinstance(answer, list):
            return index, None
        self.holding.popleft()
        self.answered += 1
        return index, answer

    def stop(self) -> None:
        """Close its stdin (it exits); kill it at once when it failed or still holds work (an
        interrupted load), else when it has not exited within a few seconds."""
        self.alive = False
        for stream in (self.stdin, self.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        try:
            self.process.wait(timeout=0 if self.holding or self.failed else 5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _send(self, value: Any) -> bool:
        try:
            send(self.stdin, value)
        except (OSError, ValueError):
            return False
        return True


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
    if size > MAX_MESSAGE_BYTES:
        raise ValueError(f"a message of {size:,} bytes is not one of ours")
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the other side closed the pipe mid-message")
    # Both ends of the pipe are cxrecon: this process and the helper it started.
    return pickle.loads(data)  # noqa: S301
