"""One git command run for the controller and its status page: no terminal, a stable language,
a time limit, and a cancelled call never leaves git running or a zombie behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from pathlib import Path


async def run_git(checkout: Path, *args: str, limit: float) -> tuple[int, str, str]:
    """`git -C checkout ARGS`: exit code, stdout, stderr (127: no git, 124: not done within
    `limit` seconds).

    Never waits on a terminal, in a stable language. `asyncio.timeout`, not `wait_for`: on
    Python 3.11 wait_for loses a cancellation that arrives as git finishes, and a stopping
    controller (or its status page) would then wait forever. A cancelled call kills git and
    reaps it; the child's transport is closed here, not in a callback that may come after
    the loop of a one-shot cycle has ended (its ResourceWarning would surface anywhere).
    """
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",  # never wait for a password on a tty nobody watches
        "GIT_ASKPASS": "",
        "LC_ALL": "C",  # messages in a stable language for the report
    }
    env.pop("GIT_DIR", None)
    env.pop("GIT_WORK_TREE", None)
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            "-C",
            str(checkout),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
    except OSError as exc:
        return 127, "", f"cannot run git: {exc.strerror or exc}"
    try:
        async with asyncio.timeout(limit):
            out, err = await proc.communicate()
    except TimeoutError:
        _kill_and_reap(proc)
        return 124, "", f"timed out after {limit:.0f}s"
    except BaseException:
        _kill_and_reap(proc)  # cancelled: git must not outlive the call
        raise
    finally:
        transport = getattr(proc, "_transport", None)
        if transport is not None:
            transport.close()
    code = proc.returncode if proc.returncode is not None else 1
    return code, out.decode(errors="replace"), err.decode(errors="replace")


def _kill_and_reap(proc: asyncio.subprocess.Process) -> None:
    """Kill git and collect its exit status now (it dies at once), so no zombie and no
    "subprocess is still running" warning is left for the garbage collector."""
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    popen = getattr(getattr(proc, "_transport", None), "_proc", None)
    if isinstance(popen, subprocess.Popen):
        with contextlib.suppress(subprocess.TimeoutExpired, ChildProcessError):
            popen.wait(timeout=5)
