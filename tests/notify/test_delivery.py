"""Delivery through Apprise to a real HTTP receiver on 127.0.0.1 (`json://`): what arrives,
who gets it, and that a dead, failing or hanging destination costs bounded time, a warning by
name (never the URL) and nothing else."""

from __future__ import annotations

import logging
import sys
import time

import pytest

from reconciler.config.notifications import Notification
from reconciler.notify import send
from reconciler.notify.events import Event, EventKind, Where, drift_item, failed_item
from reconciler.notify.send import INSTALL_HINT, Notifier, Result
from reconciler.secret import Secret

from .conftest import URL_CANARY, Receiver

WHERE = Where.of({}, environment="production", commit="a" * 40, project="crm")
DRIFT = Event(EventKind.DRIFT, "", WHERE).only(
    [drift_item("Salesforce-Prod", [("syncSettings.batchSize", 200, 500, False)])]
)
FAILED = Event(EventKind.APPLY_FAILED, "", WHERE).only([failed_item("Zendesk", "HTTP 422")])


def destination(
    name: str, url: str, events: tuple[str, ...] = ("drift", "apply-failed"), **kw: object
) -> Notification:
    return Notification(name, Secret(url), events, **kw)  # type: ignore[arg-type]


class Warnings(list[str]):
    def __call__(self, message: str) -> None:
        self.append(message)


@pytest.fixture
def warnings() -> Warnings:
    return Warnings()


def test_each_destination_gets_the_events_it_wants_as_json(
    receiver: Receiver, warnings: Warnings
) -> None:
    counted: list[tuple[str, str]] = []
    notifier = Notifier(
        [
            destination("chat", receiver.url(), ("drift",)),
            destination("ops", receiver.url(markdown=False), ("apply-failed",)),
            destination("sandbox-only", receiver.url(), ("drift",), environments=("sandbox",)),
        ],
        warn=warnings,
        count=lambda event, result: counted.append((event, result)),
    )
    deliveries = notifier.send([DRIFT, FAILED])
    assert [(d.destination, d.event, d.result) for d in deliveries] == [
        ("chat", "drift", Result.SENT),
        ("ops", "apply-failed", Result.SENT),
    ]
    assert sorted(counted) == [("apply-failed", "sent"), ("drift", "sent")]
    assert warnings == []
    by_title = {p["title"]: p for p in receiver.posts}
    drift = by_title["cxrecon: drift in production"]
    assert drift["type"] == "warning"
    assert drift["message"].startswith("**1 connector(s) changed in CXone")
    assert "- **Salesforce-Prod**: syncSettings.batchSize: 200 → 500" in drift["message"]
    failed = by_title["cxrecon: apply failed in production"]
    assert failed["type"] == "failure"
    assert failed["message"].startswith("1 connector(s) could not be applied.\n")  # plain text
    assert "- Zendesk: HTTP 422" in failed["message"]


def test_a_dead_destination_fails_fast_with_a_warning_by_name(
    receiver: Receiver, dead_port: int, warnings: Warnings, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"json://127.0.0.1:{dead_port}/hook/{URL_CANARY}"
    notifier = Notifier(
        [destination("broken", dead), destination("chat", receiver.url())], warn=warnings
    )
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG):
        deliveries = notifier.send([DRIFT])
    assert time.monotonic() - started < 5
    assert {d.destination: d.result for d in deliveries} == {
        "broken": Result.FAILED,
        "chat": Result.SENT,
    }
    assert warnings == [
        "warning: notification 'broken' (drift) was not delivered: the service refused the "
        "message or could not be reached; the result of this run is unchanged"
    ]
    assert URL_CANARY not in caplog.text
    assert str(dead_port) not in caplog.text
    assert len(receiver.posts) == 1


def test_a_refusing_destination_is_a_failure(receiver: Receiver, warnings: Warnings) -> None:
    receiver.mode = "fail"
    [delivery] = Notifier([destination("chat", receiver.url())], warn=warnings).send([DRIFT])
    assert delivery.result is Result.FAILED
    assert "notification 'chat'" in warnings[0]
    assert URL_CANARY not in warnings[0]


def test_a_hanging_destination_costs_its_budget_once_and_spares_the_others(
    receiver: Receiver, warnings: Warnings
) -> None:
    from .conftest import Receiver as _  # noqa: F401 - the hanging one is this receiver

    hanging = receiver
    hanging.mode = "hang"
    counted: list[tuple[str, str]] = []
    notifier = Notifier(
        [destination("slow", hanging.url())],
        warn=warnings,
        budget=1.0,
        count=lambda event, result: counted.append((event, result)),
    )
    started = time.monotonic()
    deliveries = notifier.send([DRIFT, FAILED])  # two messages, one budget
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 2.5
    assert [d.result for d in deliveries] == [Result.TIMEOUT, Result.TIMEOUT]
    assert sorted(counted) == [("apply-failed", "timeout"), ("drift", "timeout")]
    assert warnings == [
        "warning: notification 'slow' (drift, apply-failed) was not delivered: no answer within "
        "1 s; the result of this run is unchanged"
    ]


def test_a_hanging_destination_does_not_hold_up_another(
    receiver: Receiver, dead_port: int, warnings: Warnings
) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    release = threading.Event()

    class Hang(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            release.wait(10)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hang)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        slow = f"json://127.0.0.1:{server.server_address[1]}/hook"
        notifier = Notifier(
            [destination("slow", slow), destination("chat", receiver.url())],
            warn=warnings,
            budget=1.0,
        )
        started = time.monotonic()
        deliveries = notifier.send([DRIFT])
        assert time.monotonic() - started < 2.5
    finally:
        release.set()
        server.shutdown()
        server.server_close()
    assert {d.destination: d.result for d in deliveries} == {
        "slow": Result.TIMEOUT,
        "chat": Result.SENT,
    }
    assert receiver.titles() == ["cxrecon: drift in production"]


def test_a_missing_variable_is_named_and_nothing_is_sent(
    receiver: Receiver, warnings: Warnings
) -> None:
    notifier = Notifier(
        [destination("chat", "json://127.0.0.1:1/${env:CHAT_TOKEN}")], warn=warnings, environ={}
    )
    [delivery] = notifier.send([DRIFT])
    assert delivery.result is Result.FAILED
    assert "environment variable CHAT_TOKEN is not set" in warnings[0]


def test_variables_are_resolved_from_the_environment(
    receiver: Receiver, warnings: Warnings
) -> None:
    url = f"json://127.0.0.1:{receiver.port}/hook/${{env:CHAT_TOKEN}}"
    notifier = Notifier([destination("chat", url)], warn=warnings, environ={"CHAT_TOKEN": "abc"})
    [delivery] = notifier.send([DRIFT])
    assert delivery.result is Result.SENT
    assert receiver.paths == ["/hook/abc"]


def test_a_url_apprise_does_not_know_is_a_warning(warnings: Warnings) -> None:
    notifier = Notifier([destination("chat", f"nosuchservice://{URL_CANARY}")], warn=warnings)
    [delivery] = notifier.send([DRIFT])
    assert delivery.result is Result.FAILED
    assert "its url is not one Apprise can use" in warnings[0]
    assert URL_CANARY not in warnings[0]


@pytest.fixture
def without_apprise(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the `notify` extra were not installed (`import apprise` fails)."""
    monkeypatch.setitem(sys.modules, "apprise", None)
    monkeypatch.setattr(send, "_APPRISE", {})


@pytest.mark.usefixtures("without_apprise")
def test_without_apprise_one_line_says_how_to_install_it(
    receiver: Receiver, warnings: Warnings
) -> None:
    counted: list[tuple[str, str]] = []
    notifier = Notifier(
        [destination("chat", receiver.url()), destination("ops", receiver.url())],
        warn=warnings,
        count=lambda event, result: counted.append((event, result)),
    )
    deliveries = notifier.send([DRIFT])
    assert [d.result for d in deliveries] == [Result.FAILED, Result.FAILED]
    assert warnings == [
        "warning: notifications are configured in cxrecon.yaml but Apprise is not installed: "
        f"{INSTALL_HINT}"
    ]
    assert INSTALL_HINT == "pip install 'cxrecon[notify]'"
    assert counted == [("drift", "failed"), ("drift", "failed")]
    assert receiver.posts == []


def test_nothing_is_imported_or_sent_without_a_destination_that_wants_it(
    warnings: Warnings,
) -> None:
    notifier = Notifier([destination("chat", "json://127.0.0.1:1/x", ("applied",))], warn=warnings)
    assert notifier.send([DRIFT]) == []
    assert warnings == []
