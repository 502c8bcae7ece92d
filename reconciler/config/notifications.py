"""`notifications:` in cxrecon.yaml: where drift, failures and deletions are told (an Apprise
URL per destination, a secret), for which events and environments; checked with locations.

    notifications:
      - name: team-chat                 # how warnings and `cxrecon notify test` name it
        url: ${env:TEAMS_WEBHOOK_URL}   # an Apprise URL; ${env:NAME} parts resolved when sent
        events: [drift, apply-failed, deleted-in-cxone]
        environments: [production]      # optional: only these environments (default all)

A URL is a secret: it is kept as a `Secret`, never shown in a message (a problem names the
notification and the spot in the file, never the value); one written into the file whole (no
`${env:}` part) is an error, as a secret written into `environments:` is, unless its host is
this machine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from reconciler.config.settings import is_loopback_url, is_reserved_variable
from reconciler.documents.yamlload import LoadedDocument
from reconciler.model import Diagnostic, SourceLocation
from reconciler.secret import Secret

NOTIFICATIONS_KEY: Final = "notifications"
#: The events a destination can subscribe to, in the order docs and `notify test` list them.
EVENTS: Final = (
    "drift",
    "apply-failed",
    "applied",
    "deleted-in-cxone",
    "policy-violation",
    "controller-not-ready",
    "controller-recovered",
)
#: `${env:NAME}` inside a URL (anywhere, several allowed): resolved when a message is sent.
ENV_PART: Final = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
#: Any other `${…}` in a URL: a typo or a reference kind a URL cannot use.
_OTHER_REF: Final = re.compile(r"\$\{(?!env:[A-Za-z_][A-Za-z0-9_]*\})")
#: What an Apprise URL starts with (checked on the text outside `${env:}` parts).
_SCHEME: Final = re.compile(r"^(?:\$\{env:[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z][A-Za-z0-9+.-]*://)")
_RULE: Final = "notifications"


@dataclass(frozen=True, slots=True)
class Notification:
    """One destination. `environments` None means every environment."""

    name: str
    url: Secret
    events: tuple[str, ...]
    environments: tuple[str, ...] | None = None
    location: SourceLocation | None = None

    def wants(self, event: str, environment: str | None) -> bool:
        """Whether this destination is told `event` happening in `environment`."""
        if event not in self.events:
            return False
        return self.environments is None or environment in self.environments

    @property
    def variables(self) -> tuple[str, ...]:
        """The environment variables the URL is made of (names only: never secret)."""
        return tuple(ENV_PART.findall(self.url.reveal()))


def check_notifications(
    document: LoadedDocument, schema_paths: set[tuple[str | int, ...]]
) -> tuple[tuple[Notification, ...], list[Diagnostic]]:
    """The notifications of a project document, and the problems the schema cannot see
    (duplicate names, unknown environments, a URL that is no URL or names a reserved
    variable). Entries the schema already rejected (a path in `schema_paths`) are skipped."""
    data = document.data if isinstance(document.data, dict) else {}
    block = data.get(NOTIFICATIONS_KEY)
    if not isinstance(block, list):
        return (), []
    environments = data.get("environments")
    defined = set(environments) if isinstance(environments, dict) else None
    found: list[Notification] = []
    problems: list[Diagnostic] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(block):
        at: tuple[str | int, ...] = (NOTIFICATIONS_KEY, index)
        if not isinstance(item, dict):
            continue
        name, url = item.get("name"), item.get("url")
        if not isinstance(name, str):
            continue
        first = seen.setdefault(name, index)
        if not isinstance(url, str) or _rejected(at, schema_paths):
            continue
        found_here = _url_problems(document, (*at, "url"), name, url)
        if first != index:
            found_here.append(
                _at(
                    document,
                    (*at, "name"),
                    f"notification name '{name}' is used twice (also entry {first + 1}); "
                    "names pick a destination for `cxrecon notify test --name`: make them unique",
                )
            )
        found_here.extend(_environment_problems(document, at, item, defined))
        problems.extend(found_here)
        if not found_here:
            found.append(_build(document, at, item, name, url))
    return tuple(found), problems


def _rejected(at: tuple[str | int, ...], schema_paths: set[tuple[str | int, ...]]) -> bool:
    return any(path[: len(at)] == at or at[: len(path)] == path for path in schema_paths)


def _url_problems(
    document: LoadedDocument, at: tuple[str | int, ...], name: str, url: str
) -> list[Diagnostic]:
    # Messages name the notification and the spot, never the URL's text: it is a secret.
    where = f"notification '{name}': url"
    if _OTHER_REF.search(url):
        return [
            _at(
                document,
                at,
                f"{where} holds a reference other than ${{env:NAME}}; write the whole URL "
                "into an environment variable and use url: ${env:NAME}",
            )
        ]
    if not _SCHEME.match(url):
        return [
            _at(
                document,
                at,
                f"{where} is not an Apprise URL (SERVICE://…, e.g. a Slack or Teams URL); "
                "see docs/notifications.md, and keep it in an environment variable: "
                "url: ${env:NAME}",
            )
        ]
    if not ENV_PART.search(url) and not is_loopback_url(url):
        return [
            _at(
                document,
                at,
                f"{where} is written into cxrecon.yaml, which is committed: a webhook URL lets "
                "anyone who reads the repository post to the channel. Keep it in an environment "
                "variable set where cxrecon runs (a CI secret) and write url: ${env:NAME}",
            )
        ]
    return [
        _at(
            document,
            at,
            f"{where} uses ${{env:{variable}}}, one of cxrecon's own or the CI runner's "
            "credentials; a notification must never carry them to another service. Give the "
            "URL a variable of its own, e.g. ${env:TEAMS_WEBHOOK_URL}",
        )
        for variable in ENV_PART.findall(url)
        if is_reserved_variable(variable)
    ]


def _environment_problems(
    document: LoadedDocument,
    at: tuple[str | int, ...],
    item: Mapping[str, Any],
    defined: set[Any] | None,
) -> list[Diagnostic]:
    wanted = item.get("environments")
    if not isinstance(wanted, list):
        return []
    known = ", ".join(sorted(str(e) for e in defined or ())) or "none defined"
    return [
        _at(
            document,
            (*at, "environments", i),
            f"notification '{item.get('name')}': environment '{env}' is not defined under "
            f"environments (defined: {known})",
        )
        for i, env in enumerate(wanted)
        if defined is None or env not in defined
    ]


def _build(
    document: LoadedDocument,
    at: tuple[str | int, ...],
    item: Mapping[str, Any],
    name: str,
    url: str,
) -> Notification:
    environments = item.get("environments")
    events = item.get("events") or ()
    return Notification(
        name=name,
        url=Secret(url),
        # In EVENTS' order, each once, whatever order the file lists them in.
        events=tuple(e for e in EVENTS if e in events),
        environments=tuple(str(e) for e in environments) if environments is not None else None,
        location=document.key_locations.get(at) or document.location_of(at),
    )


def _at(document: LoadedDocument, path: tuple[str | int, ...], message: str) -> Diagnostic:
    location = document.key_locations.get(path) or document.location_of(path)
    return Diagnostic("error", message, location, _RULE)
