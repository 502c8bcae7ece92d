"""A helper process of a large load (reconciler.load.helpers starts it): reads a LoadContext,
then chunks of (bytes, display name) on stdin, answers each with the checked files (and
which code checked them) on stdout, exits when stdin closes. Ctrl-C is left to the process
that started it.

Requests are read by a thread as they come, so the starting process never waits to write
the next chunk while this one writes an answer (with both pipes full, each would wait for
the other forever)."""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
from typing import IO, Any

from reconciler.load.collector import collecting_less
from reconciler.load.helpers import IDENTITY, check_chunk, receive, send

_END = object()


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Answers go to the original stdout; anything else printing there would garble them.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
    threading.Thread(target=_read, args=(sys.stdin.buffer, requests), daemon=True).start()
    context = requests.get()
    if context is _END:
        return 0
    try:
        with collecting_less():
            while (chunk := requests.get()) is not _END:
                try:
                    checked = check_chunk(chunk, context)
                except Exception:  # the starting process checks this chunk itself
                    checked = None
                send(answers, (IDENTITY, checked))
    except BrokenPipeError:
        pass  # the starting process is gone
    return 0


def _read(stream: IO[bytes], requests: queue.SimpleQueue[Any]) -> None:
    try:
        while True:
            requests.put(receive(stream))
    except Exception:  # noqa: S110 - the stream ended (the load is over) or broke: stop
        pass
    finally:
        requests.put(_END)


if __name__ == "__main__":
    sys.exit(main())
