"""Settling writes an earlier run left without a known outcome (interrupted, crashed, a lost
connection): each is read back from CXone and its resolution recorded before new writes.

A write is settled when its outcome is `unknown`, or when its intent has no outcome and its
writer is gone: not a write in flight in this process, not a live process on this host, and
older than `STALE_AFTER` when it came from another host (a concurrent run is not a crash).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from typing import Final

from reconciler.apply.audit import in_flight
from reconciler.apply.audit_reader import PendingWrite, reader_for
from reconciler.apply.audit_records import AuditEvent
from reconciler.apply.context import ExecContext
from reconciler.apply.writes import holds, resolution_event
from reconciler.cxone.errors import NotFound
from reconciler.errors import CxreconError
from reconciler.model import RemoteConnector

log = logging.getLogger("cxrecon.apply")

#: An intent from another host without an outcome is that host's write in flight until then.
STALE_AFTER: Final = dt.timedelta(minutes=15)


async def settle_pending(ctx: ExecContext) -> tuple[str, ...]:
    """Read back and record every write of this environment left unsettled; one line per
    write settled, for the run's output (a write that cannot be read back now stays for
    the next run)."""
    audit = ctx.audit
    if audit is None:
        return ()
    mine = in_flight()
    told: list[str] = []
    for write in reader_for(audit.path).pending(audit.environment):
        if write.write_id in mine or not _writer_gone(write):
            continue
        if write.action == "sync":
            audit.record(_sync_left(write))
            told.append(f"{write.connector}: a CRM data sync an earlier run started may have run")
            continue
        try:
            fresh = await _read_back(ctx, write)
        except CxreconError as exc:
            log.warning(
                "%s: cannot settle an earlier %s yet: %s", write.connector, write.action, exc
            )
            continue
        done = fresh is not None and write.expect is not None and holds(write.expect, fresh)
        event = resolution_event(
            write.connector,
            write.action,
            write.write_id,
            fresh,
            done,
            how="read back by a later run",
        )
        audit.record(event)
        line = (
            f"{write.connector}: the {write.action} of an earlier run whose outcome was unknown "
            f"({write.time or 'time unknown'}) " + ("was written" if done else "was not written")
        )
        log.info("%s", line)
        told.append(line)
    audit.settled.extend(told)
    return tuple(told)


async def _read_back(ctx: ExecContext, write: PendingWrite) -> RemoteConnector | None:
    """The connector the write was about, as CXone has it now (None: not there)."""
    if write.connector_id is not None:
        try:
            return await ctx.client.get_connector(write.connector_id)
        except NotFound:
            return None
    found = await ctx.client.find_by_name(write.connector)
    for connector in found:
        if write.expect is not None and holds(write.expect, connector):
            return connector
    return found[0] if found else None


def _sync_left(write: PendingWrite) -> AuditEvent:
    """A sync start whose answer never came cannot be read back without its id: recorded
    as unknown for good (CXone's sync history for the connector tells)."""
    return AuditEvent(
        connector=write.connector,
        connector_id=write.connector_id,
        action="sync",
        result="unknown",
        kind="resolution",
        write_id=write.write_id,
        details={
            "resolvedFrom": "unknown",
            "how": "not read back: a sync's id came with the answer that was lost",
            "readBack": "see the connector's CRM data sync history in CXone",
        },
    )


def _writer_gone(write: PendingWrite) -> bool:
    if write.unknown:
        return True  # its writer recorded that it gave up waiting
    if write.host == socket.gethostname():
        return write.pid is None or write.pid == os.getpid() or not _alive(write.pid)
    if write.time is None:
        return True
    try:
        when = dt.datetime.fromisoformat(write.time)
    except ValueError:
        return True
    return dt.datetime.now(dt.UTC) - when > STALE_AFTER


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: alive
    return True
