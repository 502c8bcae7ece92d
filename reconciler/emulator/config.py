"""Settings of one emulator instance: OAuth clients, realism knobs, fault injection.

`EmulatorConfig` is frozen; what may change at run time (via `/_emulator/faults`) is copied
into `Knobs`, the only mutable settings object, owned by the running app.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal

from reconciler.config.settings import DEFAULT_SCOPES, EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET

READ_SCOPE: Final = "crm:connectors:read"
WRITE_SCOPE: Final = "crm:connectors:write"

#: Every fault the injector knows. "slow" answers after `slow_ms`; "reset" kills the TCP
#: connection before the request is handled; "drop" handles (commits) a write and then
#: closes the connection without a response.
FAULT_KINDS: Final = ("500", "502", "503", "429", "reset", "slow", "drop")
FaultKind = Literal["500", "502", "503", "429", "reset", "slow", "drop"]

#: The token endpoint's body limit: a few short form fields, and no token needed to send it.
TOKEN_BODY_MAX: Final = 16 * 1024

DEFAULT_USERS: Final[Mapping[str, str]] = {"demo-user": "demo-password"}

ConflictStatus = Literal[409, 412]
TEN_YEARS_S: Final = 10 * 365 * 24 * 3600
#: Settings that are whole numbers (an integral float such as 20.0 is taken as 20).
INTEGER_KNOBS: Final = frozenset(
    {"token_ttl", "burst", "max_body_bytes", "fault_retry_after_s", "burst_429_length"}
)


@dataclass(frozen=True, slots=True)
class OAuthClient:
    """A registered OAuth client. The secret is the emulator's own test value, never a real one."""

    secret: str
    scopes: frozenset[str]

    def __repr__(self) -> str:
        return f"OAuthClient(secret='********', scopes={sorted(self.scopes)!r})"


def default_clients() -> dict[str, OAuthClient]:
    return {EMULATOR_CLIENT_ID: OAuthClient(EMULATOR_CLIENT_SECRET, frozenset(DEFAULT_SCOPES))}


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """Everything that shapes one emulator; defaults give a fast, fault-free server.

    `rate_limit` is requests per second per OAuth client (0 turns limiting off) with a
    bucket of `burst` requests. `fault_rate` is the fraction of API requests that get a fault
    drawn (seeded by `seed`) from `fault_kinds`. Sync jobs step PENDING → RUNNING → done
    every `sync_step_s` seconds, and at least one step per poll.
    """

    db_path: Path = Path("emulator.sqlite")
    clients: Mapping[str, OAuthClient] = field(default_factory=default_clients)
    users: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_USERS))
    token_ttl: int = 3600
    rate_limit: float = 0.0
    burst: int = 20
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    fault_retry_after_s: int = 1
    burst_429_length: int = 3
    latency_ms: int = 0
    jitter_ms: int = 0
    slow_ms: int = 15_000
    conflict_status: int = 412
    seed: int = 0
    max_body_bytes: int = 256 * 1024
    sync_step_s: float = 0.05
    idempotency_ttl_s: int = 24 * 3600
    #: Host names (besides loopback ones and the address a request arrived on) that the
    #: `/_emulator` admin writes accept in `Host`: the bind host when it is a name.
    admin_hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems = check_knobs(
            {
                "token_ttl": self.token_ttl,
                "rate_limit": self.rate_limit,
                "burst": self.burst,
                "fault_rate": self.fault_rate,
                "fault_kinds": self.fault_kinds,
                "latency_ms": self.latency_ms,
                "jitter_ms": self.jitter_ms,
                "slow_ms": self.slow_ms,
                "conflict_status": self.conflict_status,
                "max_body_bytes": self.max_body_bytes,
                "sync_step_s": self.sync_step_s,
            }
        )
        if not self.clients:
            problems.append("at least one OAuth client is required")
        if problems:
            raise ValueError("invalid emulator settings: " + "; ".join(problems))

    def with_db(self, db_path: Path) -> EmulatorConfig:
        return replace(self, db_path=db_path)


def check_knobs(values: Mapping[str, Any]) -> list[str]:
    """Range checks shared by the config, the CLI flags and `POST /_emulator/faults`."""
    problems: list[str] = []

    def number(name: str, low: float, high: float) -> None:
        # Every bound is finite, so infinity (JSON 1e400) and NaN are refused too: the
        # settings are echoed as JSON, which has no Infinity.
        if name not in values:
            return
        value = values[name]
        integer = name in INTEGER_KNOBS
        kind = "an integer" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{name} must be {kind}")
        elif not low <= value <= high:
            problems.append(f"{name} must be between {low:g} and {high:g}, not {_shown(value)}")
        elif integer and not float(value).is_integer():
            problems.append(f"{name} must be an integer, not {value:g}")

    number("token_ttl", 1, TEN_YEARS_S)
    number("rate_limit", 0, 1e9)
    number("burst", 1, 1e9)
    number("fault_rate", 0, 1)
    number("latency_ms", 0, 600_000)
    number("jitter_ms", 0, 600_000)
    number("slow_ms", 0, 600_000)
    number("max_body_bytes", 1, 2**40)
    number("sync_step_s", 0, 86_400)
    number("fault_retry_after_s", 0, 3600)
    number("burst_429_length", 1, 1000)
    if "conflict_status" in values and values["conflict_status"] not in (409, 412):
        problems.append("conflict_status must be 409 or 412")
    if "fault_kinds" in values:
        kinds = values["fault_kinds"]
        if not isinstance(kinds, list | tuple) or not kinds:
            problems.append(f"fault_kinds must be a non-empty list of {', '.join(FAULT_KINDS)}")
        else:
            unknown = [k for k in kinds if k not in FAULT_KINDS]
            if unknown:
                problems.append(
                    f"unknown fault kind(s) {unknown}; choose from {', '.join(FAULT_KINDS)}"
                )
    return problems


def _shown(value: float) -> str:
    text = str(value)
    return text if len(text) <= 24 else text[:12] + "…"


@dataclass(slots=True)
class Knobs:
    """The run-time adjustable part of the config (mutable on purpose: `/_emulator/faults`)."""

    rate_limit: float
    burst: int
    fault_rate: float
    fault_kinds: tuple[str, ...]
    fault_retry_after_s: int
    burst_429_length: int
    latency_ms: int
    jitter_ms: int
    slow_ms: int
    conflict_status: int
    seed: int
    token_ttl: int
    sync_step_s: float

    @classmethod
    def from_config(cls, config: EmulatorConfig) -> Knobs:
        return cls(
            rate_limit=config.rate_limit,
            burst=config.burst,
            fault_rate=config.fault_rate,
            fault_kinds=tuple(config.fault_kinds),
            fault_retry_after_s=config.fault_retry_after_s,
            burst_429_length=config.burst_429_length,
            latency_ms=config.latency_ms,
            jitter_ms=config.jitter_ms,
            slow_ms=config.slow_ms,
            conflict_status=config.conflict_status,
            seed=config.seed,
            token_ttl=config.token_ttl,
            sync_step_s=config.sync_step_s,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "rateLimit": self.rate_limit,
            "burst": self.burst,
            "faultRate": self.fault_rate,
            "faultKinds": list(self.fault_kinds),
            "faultRetryAfterSeconds": self.fault_retry_after_s,
            "burst429Length": self.burst_429_length,
            "latencyMs": self.latency_ms,
            "jitterMs": self.jitter_ms,
            "slowMs": self.slow_ms,
            "conflictStatus": self.conflict_status,
            "seed": self.seed,
            "tokenTtl": self.token_ttl,
            "syncStepSeconds": self.sync_step_s,
        }


#: JSON name (as in `Knobs.as_json`) → attribute, for `POST /_emulator/faults`.
KNOB_NAMES: Final = {
    "rateLimit": "rate_limit",
    "burst": "burst",
    "faultRate": "fault_rate",
    "faultKinds": "fault_kinds",
    "faultRetryAfterSeconds": "fault_retry_after_s",
    "burst429Length": "burst_429_length",
    "latencyMs": "latency_ms",
    "jitterMs": "jitter_ms",
    "slowMs": "slow_ms",
    "conflictStatus": "conflict_status",
    "seed": "seed",
    "tokenTtl": "token_ttl",
    "syncStepSeconds": "sync_step_s",
}
