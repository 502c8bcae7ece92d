"""Durations as people write them in flags and cxrecon.yaml: `30s`, `5m`, `1h30m`, `2d`, `250ms`.

Go-style (as Argo CD and Flux write them), so the same strings work across GitOps tools.
"""

from __future__ import annotations

import re
from typing import Final

from reconciler.errors import ConfigError

_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE: Final = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")


def parse_duration(text: str, *, what: str = "duration") -> float:
    """Seconds in `text`; ConfigError naming `what` and the accepted forms otherwise."""
    value = text.strip().lower()
    if not _WHOLE.fullmatch(value):
        raise ConfigError(
            f"{what} {text!r} is not a duration; write a number with a unit, e.g. 30s, 5m, "
            "1h, 1h30m or 2d (units: ms, s, m, h, d)"
        )
    return sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(value))


def format_duration(seconds: float) -> str:
    """The shortest readable form: 300 → `5m`, 5400 → `1h30m`, 0.25 → `250ms`."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    rest = round(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
