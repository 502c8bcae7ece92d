"""A helper process of a large load (reconciler.load.helpers starts it): reads a LoadContext,
then chunks of (bytes, display name) on stdin, answers each with the checked files on
stdout, exits when stdin closes. Ctrl-C is left to the process that started it."""

from __future__ import annotations

import os
import signal
import sys

from reconciler.load.checked import check_file
from reconciler.load.collector import collecting_less
from reconciler.load.helpers import receive, send


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Answers go to the original stdout; anything else printing there would garble them.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    requests = sys.stdin.buffer
    try:
        context = receive(requests)
        with collecting_less():
            while True:
                chunk = receive(requests)
                try:
                    checked = [check_file(raw, name, context) for raw, name in chunk]
                except Exception:  # the starting process checks this chunk itself
                    checked = None
                send(answers, checked)
    except (EOFError, BrokenPipeError):
        return 0  # the load is over (or its process is gone)


if __name__ == "__main__":
    sys.exit(main())
