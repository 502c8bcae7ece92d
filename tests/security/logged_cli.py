"""`cxrecon` with every logger a leak could hide in at DEBUG: `python logged_cli.py ARGS…`
appends the records of reconciler, cxrecon, httpx and httpcore to $CXRECON_TEST_DEBUG_LOG."""

from __future__ import annotations

import logging
import os

from reconciler.cli.main import main

#: Loggers cxrecon and its HTTP stack write to (the controller's is `cxrecon`).
DEBUG_LOGGERS = ("reconciler", "cxrecon", "httpx", "httpcore", "asyncio")


def configure(path: str) -> None:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(process)d %(name)s %(levelname)s %(message)s"))
    handler.setLevel(logging.DEBUG)
    # On the root logger, so a command that adds its own handler (reconcile's stderr one)
    # still reaches this file as long as it propagates; the rest goes to the captured stderr.
    root = logging.getLogger()
    root.addHandler(handler)
    for name in DEBUG_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)


if __name__ == "__main__":
    configure(os.environ["CXRECON_TEST_DEBUG_LOG"])
    main()
