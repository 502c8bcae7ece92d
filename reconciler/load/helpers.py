"""Checking many files at once: on a machine with more than one core, helper processes take
part of a large load (the checks are pure Python, so threads would share one core).

The files are cut into chunks of about `CHUNK_BYTES`. This process checks chunks from the
front while each helper is fed chunks from the back, so both sides finish together whatever
the files cost; between its own chunks it writes to and reads from the helpers' pipes
without blocking. A helper is a fresh interpreter (`python -P -m reconciler.load.helper`:
the working directory, a repository under review, is not on its import path; this process's
own code is) that reads pickled chunks on stdin and answers with the checked files on
stdout, each answer naming the code that checked (an answer from other code is refused).
The pipes are ours: started by us, held by no one else. The result is exactly that of
checking every file here: `check_file` depends only on the bytes, the context and the files
`${file:}` references reach, which a helper on the same machine sees the same way.

Nothing is lost when a helper fails (it cannot start, dies, its check raises, it answers
with anything but an answer, or nothing for `STALL_SECONDS`): its chunks are checked here
instead, and it gets no more. Helpers ignore Ctrl-C (this process stops them on the way
out) and exit when their stdin closes, so none outlives the load.

`CXRECON_LOAD_WORKERS`: unset or `auto` chooses by size (helpers only from `MIN_BYTES` on,
one per `MIN_BYTES`, at most one per spare core, a container's CPU quota counted, and
`MAX_HELPERS`); `0` never starts one; a number N starts N whenever there are at least two
chunks (tests, benchmarks). Not on Windows, whose pipes cannot be waited on: there every
load stays in one process.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import selectors
import struct
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Final

import reconciler
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
#: The package this process runs: helpers are started on it.
_PACKAGE: Final = Path(reconciler.__file__).resolve().parent
#: Which code checks: a helper answers with it, and an answer from other code is refused.
IDENTITY: Final = f"{reconciler.__version__} {_PACKAGE}"


def check_chunk(chunk: Sequence[Item], context: LoadContext) -> list[CheckedFile]:
    """Each item of `chunk` checked, here (this process's share, or a helper's)."""
    return [check_file(raw, display, context) for raw, display in chunk]


def check_all(items: Sequence[Item], context: LoadContext) -> tuple[list[CheckedFile], int]:
    """Every item checked (in order), and how many helper processes took part (checked at
    least one chunk)."""
    chunks = _chunks(items)
    count = helper_count(sum(len(raw) for raw, _ in items), len(chunks))
    payload = _pickled(context) if count else None
    if payload is None:
        return check_chunk(items, context), 0
    return _Shared(chunks, context).run(count, payload)


def _pickled(context: LoadContext) -> bytes | None:
    try:
        return pickle.dumps(context, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # something in it does not travel: everything is checked here
        return None


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
    process also does the helpers' pipe I/O, without blocking, between its own chunks: a
    thread doing it would wait for the interpreter lock every time the checks hold it, and
    leave the helpers idle."""

    def __init__(self, chunks: list[list[Item]], context: LoadContext) -> None:
        self.context = context
        self.todo: deque[int] = deque(range(len(chunks)))
        self.chunks = chunks
        self.done: list[list[CheckedFile] | None] = [None] * len(chunks)

    def run(self, count: int, payload: bytes) -> tuple[list[CheckedFile], int]:
        helpers: list[_Helper] = []
        try:
            for _ in range(count):
                _Helper.start(payload, helpers)
            with selectors.DefaultSelector() as selector:
                while True:
                    live = [h for h in helpers if h.alive]
                    for helper in live:
                        self._feed(helper)
                    if self.todo:
                        self._exchange(selector, live, 0)
                        index = self.todo.popleft()
                        self.done[index] = check_chunk(self.chunks[index], self.context)
                    elif any(h.holding for h in live):
                        if not self._exchange(selector, live, STALL_SECONDS):
                            for helper in live:  # stuck: what they hold is checked here
                                self._give_back(helper)
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
            helper.queue(index, self.chunks[index])
        if not helper.flush():
            self._give_back(helper)

    def _exchange(
        self, selector: selectors.BaseSelector, live: list[_Helper], timeout: float
    ) -> bool:
        """Write what the helpers can take and read what they answered, waiting up to
        `timeout` for something to happen; whether anything did."""
        for helper in live:
            if helper.holding:
                selector.register(helper.reader, selectors.EVENT_READ, helper)
            if helper.outbox:
                selector.register(helper.writer, selectors.EVENT_WRITE, helper)
        try:
            ready = selector.select(timeout) if selector.get_map() else []
        finally:
            for key in list(selector.get_map().values()):
                selector.unregister(key.fileobj)
        for key, _ in ready:
            helper = key.data
            if not helper.alive:
                continue
            if key.fileobj == helper.writer:
                ok = helper.flush()
            else:
                answers = helper.pull()
                ok = answers is not None
                for index, checked in answers or ():
                    self.done[index] = checked
            if not ok:
                self._give_back(helper)
        return bool(ready)

    def _give_back(self, helper: _Helper) -> None:
        """A failed helper's chunks go back to this process; it gets no more."""
        self.todo.extendleft(reversed(helper.holding))
        helper.holding.clear()
        helper.outbox.clear()
        helper.alive = False
        helper.failed = True


#: Chunks queued with one helper at a time: one it works on, one waiting in the pipe.
_QUEUED: Final = 2


class _Helper:
    """One helper process: its pipes (unbuffered, writes non-blocking), what is still to be
    written to it and read from it, and the chunks it holds (sent and not yet answered)."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdin is not None
        assert process.stdout is not None
        self.process = process
        self.writer = process.stdin.fileno()
        self.reader = process.stdout.fileno()
        os.set_blocking(self.writer, False)
        self.outbox = bytearray()
        self.inbox = bytearray()
        self.holding: deque[int] = deque()
        self.alive = True
        self.failed = False
        self.answered = 0  # chunks it checked

    @classmethod
    def start(cls, payload: bytes, started: list[_Helper]) -> None:
        """A helper that gets `payload` (the pickled context) first, added to `started`
        (or nothing when it cannot be started: this process checks its share)."""
        env = dict(os.environ)
        # The code this process runs, whatever put it on the path here (-P leaves out the
        # working directory; an editable checkout or a zipapp is not on the default path).
        here = str(_PACKAGE.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
        try:
            process = subprocess.Popen(
                [sys.executable, "-P", "-m", "reconciler.load.helper"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                bufsize=0,
                close_fds=True,
                env=env,
            )
        except (OSError, ValueError):
            return
        try:
            helper = cls(process)
        except OSError:  # its pipe cannot be made non-blocking: no helper after all
            process.kill()
            process.communicate()  # closes the pipes too
            return
        started.append(helper)
        helper.outbox += _frame(payload)

    def queue(self, index: int, chunk: list[Item]) -> None:
        self.outbox += _frame(pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL))
        self.holding.append(index)

    def flush(self) -> bool:
        """Write what the pipe takes now; False when the helper is gone."""
        while self.outbox:
            try:
                written = os.write(self.writer, self.outbox)
            except BlockingIOError:
                return True  # full: the rest when it has read some
            except OSError:
                return False
            del self.outbox[:written]
        return True

    def pull(self) -> list[tuple[int, list[CheckedFile]]] | None:
        """Read what has arrived; the answers it completes (index, checked files), or None
        when the helper is gone or sent something that is not one of its answers."""
        try:
            data = os.read(self.reader, 1 << 20)
        except OSError:
            return None
        if not data:
            return None
        self.inbox += data
        answers: list[tuple[int, list[CheckedFile]]] = []
        while len(self.inbox) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self.inbox)
            if size > MAX_MESSAGE_BYTES or not self.holding:
                return None  # not a length of ours, or an answer to nothing
            if len(self.inbox) < _HEADER.size + size:
                break
            message = bytes(self.inbox[_HEADER.size : _HEADER.size + size])
            del self.inbox[: _HEADER.size + size]
            try:
                # Both ends of the pipe are cxrecon: this process and the helper it started.
                identity, checked = pickle.loads(message)  # noqa: S301
            except Exception:
                return None
            if identity != IDENTITY or not isinstance(checked, list):
                return None  # other code than this process runs, or its check raised
            answers.append((self.holding.popleft(), checked))
            self.answered += 1
        return answers

    def stop(self) -> None:
        """Close its stdin (it exits); kill it at once when it failed or still holds work (an
        interrupted load), else when it has not exited within a few seconds."""
        self.alive = False
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            self.process.wait(timeout=0 if self.holding or self.failed else 5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _frame(data: bytes) -> bytes:
    if len(data) > MAX_MESSAGE_BYTES:
        raise ValueError(f"a message of {len(data):,} bytes is more than a helper takes")
    return _HEADER.pack(len(data)) + data


def send(stream: IO[bytes], value: Any) -> None:
    """One message: its length, then its pickle (the helper's side of the pipes)."""
    stream.write(_frame(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)))
    stream.flush()


def receive(stream: IO[bytes]) -> Any:
    """The next message; EOFError when the stream ends (the helper's side of the pipes)."""
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
