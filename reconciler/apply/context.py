"""What every connector's execution in one apply run shares (`ExecContext`): the client calls
the executor makes, where credentials come from when they are written, the audit log, the
project's label and policies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.apply.audit import AuditLog
from reconciler.config.policies import Policies
from reconciler.cxone.errors import CxoneApiError
from reconciler.model import DesiredConnector, RemoteConnector
from reconciler.plan.changes import SafetyLimitsLike
from reconciler.plan.credentials import CredentialChecker


class ConnectorApi(Protocol):
    """The client calls the executor makes (reconciler.cxone.client.CxoneClient)."""

    async def get_connector(self, connector_id: str) -> RemoteConnector: ...

    async def find_by_name(self, name: str) -> list[RemoteConnector]: ...

    async def create_connector(
        self, body: Mapping[str, Any], *, idempotency_key: str
    ) -> RemoteConnector: ...

    async def patch_connector(
        self, connector_id: str, *, etag: str, body: Mapping[str, Any]
    ) -> RemoteConnector: ...

    def refusal(self, connector_id: str, *, etag: str) -> CxoneApiError | None: ...


class CredentialSource(Protocol):
    """Resolves a desired connector's credentials and their fingerprint label, only when they
    are about to be written (reconciler.apply.run.CredentialResolver)."""

    async def for_write(self, desired: DesiredConnector) -> tuple[dict[str, str], str]: ...


@dataclass(frozen=True)
class ExecContext:
    """What every connector's execution shares in one run."""

    client: ConnectorApi
    credentials: CredentialSource
    checker: CredentialChecker
    limits: SafetyLimitsLike
    desired_digest: str
    environment: str | None
    prune: bool
    audit: AuditLog | None = None
    #: This project's id, stamped as the ownership label on every write (None: no label).
    project: str | None = None
    #: The project's ignore rules and management policies (a re-plan follows them too).
    policies: Policies | None = None
    #: Asked before each write: once it says no (an interrupted apply), no write starts.
    should_write: Callable[[], bool] | None = None
