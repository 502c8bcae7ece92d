"""Delivering events to the destinations of `notifications:` with Apprise, so that a broken
destination never changes a result: bounded time, a warning by name, never an exception.

Each destination has `BUDGET_SECONDS` per run (a command, or one controller cycle) for all
its messages; destinations are sent to at once, each in its own thread, so a run waits at
most the budget whatever their number. A URL is a secret: it is resolved (`${env:NAME}`)
only to be handed to Apprise, and no warning, log line or result carries it. Apprise is
imported on first use (the optional extra `cxrecon[notify]`), and its own log is silenced:
its lines can quote a URL's host, path or token.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import ModuleType
from typing import Any, Final

from reconciler.config.notifications import ENV_PART, Notification
from reconciler.notify.events import Event
from reconciler.notify.message import Message, render, test_message

#: The most a run spends on one destination, all its messages together.
BUDGET_SECONDS: Final = 10.0
INSTALL_HINT: Final = "pip install 'cxrecon[notify]'"
MISSING_APPRISE: Final = (
    f"notifications are configured in cxrecon.yaml but Apprise is not installed: {INSTALL_HINT}"
)

Warn = Callable[[str], None]
#: Called once per message with (event, result): the controller's metric.
Count = Callable[[str, str], None]


class Result(StrEnum):
    SENT = "sent"
    FAILED = "failed"  # refused, unreachable, not configured here (a variable, Apprise)
    TIMEOUT = "timeout"  # the destination's time was up


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one message to one destination (`why`: cxrecon's words, no URL)."""

    destination: str
    event: str
    result: Result
    why: str = ""


@dataclass
class _Job:
    """One destination's messages of this run; filled in by its thread."""

    destination: Notification
    messages: list[tuple[str, Event | None]]
    done: list[Delivery] = field(default_factory=list)
    #: What the run reported (a late answer after the budget is not counted as sent).
    reported: list[Delivery] = field(default_factory=list)
    finished: threading.Event = field(default_factory=threading.Event)


class Notifier:
    """Sends events to the destinations that want them; one instance per run (or per
    controller cycle: `budget` is spent per instance)."""

    def __init__(
        self,
        notifications: Sequence[Notification],
        *,
        warn: Warn,
        environ: Mapping[str, str] | None = None,
        count: Count | None = None,
        budget: float = BUDGET_SECONDS,
        project: str | None = None,
    ) -> None:
        self.notifications = tuple(notifications)
        self.warn = warn
        self.environ = os.environ if environ is None else environ
        self.count = count
        self.budget = budget
        self.project = project

    def send(
        self,
        events: Sequence[Event],
        *,
        choose: Callable[[Notification, Event], Event | None] | None = None,
        sent: Callable[[Notification, Event], None] | None = None,
    ) -> list[Delivery]:
        """Every event to every destination that wants it. `choose` may narrow an event
        per destination (None: nothing left to tell there); `sent` hears of each delivery."""
        jobs: list[_Job] = []
        for n in self.notifications:
            messages: list[tuple[str, Event | None]] = []
            for event in events:
                if not n.wants(event.kind.value, event.where.environment):
                    continue
                chosen: Event | None = choose(n, event) if choose is not None else event
                if chosen is not None:
                    messages.append((chosen.kind.value, chosen))
            if messages:
                jobs.append(_Job(n, messages))
        deliveries = self._run(jobs)
        if sent is not None:
            for job in jobs:
                for delivery, (_kind, told) in zip(job.reported, job.messages, strict=False):
                    if delivery.result is Result.SENT and told is not None:
                        sent(job.destination, told)
        return deliveries

    def test(self, names: Sequence[str] = ()) -> list[Delivery]:
        """A test message to each destination (or the named ones)."""
        chosen = [n for n in self.notifications if not names or n.name in names]
        return self._run([_Job(n, [("test", None)]) for n in chosen])

    # --- delivery -----------------------------------------------------------------------

    def _run(self, jobs: list[_Job]) -> list[Delivery]:
        if not jobs:
            return []
        apprise = _load_apprise()
        if apprise is None:
            self.warn(f"warning: {MISSING_APPRISE}")
            missing = [
                Delivery(
                    j.destination.name, kind, Result.FAILED, f"Apprise is missing: {INSTALL_HINT}"
                )
                for j in jobs
                for kind, _ in j.messages
            ]
            self._counted(missing)
            return missing
        deadline = time.monotonic() + self.budget
        for job in jobs:
            # Daemon threads: a destination that hangs past its budget cannot keep the
            # process alive (its sockets time out by themselves soon after).
            threading.Thread(
                target=self._deliver, args=(apprise, job, deadline), daemon=True, name="notify"
            ).start()
        out: list[Delivery] = []
        for job in jobs:
            job.finished.wait(max(0.0, deadline - time.monotonic()))
            done = job.reported = list(job.done)
            late = [
                Delivery(
                    job.destination.name,
                    kind,
                    Result.TIMEOUT,
                    f"no answer within {self.budget:g} s",
                )
                for kind, _ in job.messages[len(done) :]
            ]
            out += done + late
            self._warn_about(job.destination.name, done + late)
        self._counted(out)
        return out

    def _deliver(self, apprise: ModuleType, job: _Job, deadline: float) -> None:
        try:
            for kind, event in job.messages:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                try:
                    result, why = self._one(apprise, job.destination, event, left)
                except Exception:  # a bug here must not cost the destination its budget
                    result, why = Result.FAILED, "cxrecon could not build the message"
                job.done.append(Delivery(job.destination.name, kind, result, why))
        finally:
            job.finished.set()

    def _one(
        self, apprise: ModuleType, destination: Notification, event: Event | None, left: float
    ) -> tuple[Result, str]:
        url, missing = resolve_url(destination, self.environ)
        if url is None:
            return Result.FAILED, f"environment variable {missing} is not set"
        try:
            plugin = apprise.Apprise.instantiate(
                url, asset=_asset(apprise), suppress_exceptions=True
            )
        except Exception:  # a plugin's own parsing can raise on odd input
            plugin = None
        if plugin is None:
            return Result.FAILED, "its url is not one Apprise can use (see docs/notifications.md)"
        # Apprise's own socket timeouts, within what is left of this destination's budget.
        plugin.socket_connect_timeout = max(0.1, min(left, 5.0))
        plugin.socket_read_timeout = max(0.1, left)
        markdown = _wants_markdown(apprise, plugin)
        message = (
            render(event, markdown=markdown)
            if event is not None
            else test_message(self.project, destination.name, destination.events, markdown=markdown)
        )
        started = time.monotonic()
        try:
            ok = _notify(apprise, plugin, message, event.kind.severity if event else "info")
        except Exception:  # never let a plugin's bug change the command's result
            ok = False
        if ok:
            return Result.SENT, ""
        if time.monotonic() - started >= left - 0.05:
            return Result.TIMEOUT, f"no answer within {self.budget:g} s"
        return Result.FAILED, "the service refused the message or could not be reached"

    def _warn_about(self, name: str, deliveries: Sequence[Delivery]) -> None:
        failed = [d for d in deliveries if d.result is not Result.SENT]
        if not failed:
            return
        kinds = ", ".join(dict.fromkeys(d.event for d in failed))
        self.warn(
            f"warning: notification '{name}' ({kinds}) was not delivered: {failed[0].why}; "
            "the result of this run is unchanged"
        )

    def _counted(self, deliveries: Sequence[Delivery]) -> None:
        if self.count is None:
            return
        for d in deliveries:
            if d.event != "test":
                self.count(d.event, d.result.value)


def resolve_url(destination: Notification, environ: Mapping[str, str]) -> tuple[str | None, str]:
    """The URL with its `${env:NAME}` parts filled in, or (None, the first unset NAME)."""
    raw = destination.url.reveal()
    missing = [name for name in ENV_PART.findall(raw) if not environ.get(name)]
    if missing:
        return None, missing[0]
    return ENV_PART.sub(lambda m: environ[m.group(1)], raw), ""


_APPRISE: dict[str, ModuleType | None] = {}
#: Apprise and the HTTP stack under it (cxrecon's own client is httpx, unaffected).
_QUIET_LOGGERS: Final = ("apprise", "urllib3", "requests", "requests_oauthlib", "oauthlib")
_LOCK = threading.Lock()


def _load_apprise() -> ModuleType | None:
    """Apprise, imported once on first use; None when the extra is not installed."""
    with _LOCK:
        if "module" not in _APPRISE:
            try:
                # Apprise loads its plugins on first use, some of which import deprecated
                # modules: done here once, quietly, rather than as a warning (or, under
                # `-W error`, a failed send) in the middle of a run.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    import apprise

                    apprise.Apprise.instantiate("json://localhost", suppress_exceptions=True)
                # What its plugins and HTTP stack warn about later (an unverified TLS host)
                # is cxrecon's to say, by the destination's name.
                warnings.filterwarnings("ignore", module=r"(apprise|requests|urllib3)(\.|$)")
            except ImportError:
                _APPRISE["module"] = None
            else:
                # Their log lines quote a destination's host, path or token (urllib3's debug
                # line is the request line): cxrecon says itself, by name, which failed.
                for name in _QUIET_LOGGERS:
                    quiet = logging.getLogger(name)
                    quiet.setLevel(logging.CRITICAL + 1)
                    quiet.propagate = False
                _APPRISE["module"] = apprise
        return _APPRISE["module"]


def apprise_available() -> bool:
    return _load_apprise() is not None


def _asset(apprise: ModuleType) -> Any:
    # In memory only: Apprise's persistent store would write caches under the user's home.
    return apprise.AppriseAsset(app_id="cxrecon", app_desc="cxrecon", storage_mode="memory")


def _wants_markdown(apprise: ModuleType, plugin: Any) -> bool:
    """Markdown where the service renders it, plain text elsewhere (e-mail's HTML is made
    from text by Apprise, which escapes it)."""
    markdown = apprise.NotifyFormat.MARKDOWN
    resolve = getattr(plugin, "resolve_format", None)
    if callable(resolve):
        return bool(resolve(markdown) == markdown)
    formats = plugin.notify_format
    return markdown in (formats if isinstance(formats, (tuple, list)) else (formats,))


def _notify(apprise: ModuleType, plugin: Any, message: Message, severity: str) -> bool:
    body_format = apprise.NotifyFormat.MARKDOWN if message.markdown else apprise.NotifyFormat.TEXT
    return bool(
        plugin.notify(
            body=message.body,
            title=message.title,
            notify_type=apprise.NotifyType(severity),
            body_format=body_format,
        )
    )
