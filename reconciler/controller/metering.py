"""What a cycle measures about itself: seconds per phase (pull, load, fetch, plan, apply),
files parsed, and an API client that says when the tenant's connectors have been read."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from reconciler.config.settings import ConnectionSettings
from reconciler.controller.report import Phase
from reconciler.cxone.client import CxoneClient
from reconciler.cxone.stats import ApiStats
from reconciler.model import RemoteConnector


class CycleMeter:
    """What one cycle measures about itself: seconds per phase (each `enter` ends the phase
    before; `finish` the last), and how many connector files it parsed. Kept when the cycle
    fails part-way, so a failing phase is timed too."""

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self._monotonic = monotonic
        self._phase: Phase | None = None
        self._since = 0.0
        self._seconds: dict[Phase, float] = {}
        self.files_parsed: int | None = None

    def enter(self, phase: Phase) -> None:
        now = self._monotonic()
        self._close(now)
        self._phase, self._since = phase, now

    def finish(self) -> Mapping[Phase, float]:
        self._close(self._monotonic())
        self._phase = None
        return MappingProxyType(dict(self._seconds))

    def _close(self, now: float) -> None:
        if self._phase is not None:
            self._seconds[self._phase] = self._seconds.get(self._phase, 0.0) + now - self._since


class MeteredClient(CxoneClient):
    """The API client, telling the cycle when the tenant's connectors are read: inside
    `apply_desired`, that is where fetching ends and planning begins."""

    def __init__(self, settings: ConnectionSettings, *, parallelism: int, stats: ApiStats) -> None:
        super().__init__(settings, parallelism=parallelism, stats=stats)
        #: Called once the connectors are listed (each cycle sets its own).
        self.listed: Callable[[], None] = lambda: None

    async def list_connectors(self) -> list[RemoteConnector]:
        connectors = await super().list_connectors()
        self.listed()
        return connectors
