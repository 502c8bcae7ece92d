"""CRM data syncs through the facade: how a sync is polled (flags over the project's
`syncPoll`), and one connector's sync started or followed by name (`cxrecon sync`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler.apply.datasync import PollPolicy, SyncObserver, SyncOutcome, SyncTarget
from reconciler.apply.datasync import run_sync as _run_sync
from reconciler.apply.datasync import watch_sync as _watch_sync
from reconciler.config.project import Project
from reconciler.config.settings import ConnectionSettings
from reconciler.cxone.client import CxoneClient
from reconciler.errors import ConfigError, CxreconError
from reconciler.facade.applying import open_audit_log
from reconciler.model import RemoteConnector


def poll_policy(
    project: Project,
    base: float | None = None,
    cap: float | None = None,
    attempts: int | None = None,
    timeout: float | None = None,
) -> PollPolicy:
    """The flags given (`--poll-*`), then the project's `syncPoll` settings."""
    settings = project.sync_poll
    try:
        return PollPolicy(
            base_seconds=base if base is not None else settings.base_seconds,
            cap_seconds=cap if cap is not None else settings.cap_seconds,
            max_attempts=attempts if attempts is not None else settings.max_attempts,
            timeout_seconds=timeout if timeout is not None else settings.timeout_seconds,
        )
    except ValueError as exc:
        raise ConfigError(f"{exc} (check --poll-* flags and syncPoll in cxrecon.yaml)") from None


@dataclass(frozen=True)
class SyncRun:
    """How a sync went, and why its audit record is missing (None: it was written)."""

    outcome: SyncOutcome
    audit_failure: str | None = None


@dataclass(frozen=True)
class SyncOrder:
    """One connector's sync, by name: started (`sync_type`, waited for with `wait`) or, with
    `sync_id`, one already running followed until it ends."""

    name: str
    sync_type: str = "INCREMENTAL"
    wait: bool = True
    sync_id: str | None = None


async def sync_connector(
    project: Project,
    settings: ConnectionSettings,
    order: SyncOrder,
    *,
    policy: PollPolicy,
    audit_log: Path,
    environment: str | None,
    progress: SyncObserver | None = None,
) -> SyncRun:
    """Start (or follow) the sync `order` names on the tenant `settings` reach; one record per
    sync in `audit_log`. CxreconError (one line) when no connector or several bear the name,
    or when it is not ACTIVE (syncs run on ACTIVE connectors only)."""
    with open_audit_log(
        audit_log, environment=environment, command="sync", root=project.root
    ) as audit:
        async with CxoneClient(settings, parallelism=2) as client:
            connector = await _named(client, order.name)
            target = SyncTarget(order.name, connector.id)
            if order.sync_id is not None:
                outcome = await _watch_sync(
                    client, target, order.sync_id, policy=policy, progress=progress
                )
            else:
                if connector.spec.lifecycle_status != "ACTIVE":
                    raise CxreconError(
                        f"connector {order.name!r} is {connector.spec.lifecycle_status}; syncs "
                        "only run on ACTIVE connectors: set `lifecycleStatus: ACTIVE` in git "
                        "and apply first"
                    )
                outcome = await _run_sync(
                    client,
                    target,
                    sync_type=order.sync_type,
                    policy=policy,
                    wait=order.wait,
                    progress=progress,
                    audit=audit,
                )
    return SyncRun(outcome, audit.failure)


async def _named(client: CxoneClient, name: str) -> RemoteConnector:
    found = await client.find_by_name(name)
    if not found:
        raise CxreconError(
            f"no connector named {name!r} in CXone; check the name (`cxrecon plan` lists "
            "them) or apply it first"
        )
    if len(found) > 1:
        ids = ", ".join(c.id for c in found)
        raise CxreconError(f"{len(found)} connectors are named {name!r} (ids {ids}); fix it")
    return found[0]
