"""Canary secrets and the scanner that finds them: the raw value, its base64 forms at any
alignment, emulator-issued access tokens (by their stored hashes) and bearer header lines."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

#: An `Authorization: Bearer <token>` line as text, a dict repr, or an httpcore header tuple.
BEARER_LINE = re.compile(
    rb"authorization['\"]?\s*[:=,]\s*b?['\"]?\s*bearer\s+[A-Za-z0-9._~+/=-]{12,}", re.IGNORECASE
)
#: What `secrets.token_urlsafe(32)` (the emulator's access tokens) looks like.
_TOKEN_RUN = re.compile(rb"[A-Za-z0-9_-]{43,}")
TOKEN_LENGTH = 43


def base64_forms(value: bytes) -> set[bytes]:
    """Substrings every base64 (standard or URL-safe) encoding of a text holding `value` has,
    wherever `value` starts: the characters that depend only on `value`'s own bytes."""
    forms: set[bytes] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + value)
        start = 4 if offset else 0  # the first quantum mixes in the bytes before `value`
        end = len(encoded) - 4  # the last quantum may mix in the bytes after it
        middle = encoded[start:end]
        if len(middle) >= 12:
            forms.add(middle)
            forms.add(middle.replace(b"+", b"-").replace(b"/", b"_"))
    return forms


@dataclass(frozen=True)
class Canary:
    """`value` is `core` plus an optional awkward tail (quotes, backslash, non-ASCII, URL
    metacharacters), so JSON-, form- and URL-encoded copies still show the plain `core`."""

    kind: str
    core: str
    tail: str = ""

    @property
    def value(self) -> str:
        return self.core + self.tail

    def needles(self) -> dict[bytes, str]:
        raw = self.core.encode()
        found = {raw: "plain"}
        found.update({form: "base64" for form in base64_forms(raw)})
        return found


@dataclass
class CanarySet:
    """Distinctive values for every secret kind; `scan` reports where any of them shows."""

    canaries: dict[str, Canary] = field(default_factory=dict)
    token_hashes: set[str] = field(default_factory=set)

    def make(self, kind: str, tail: str = "") -> str:
        canary = Canary(kind, f"CANARY-{kind}-{secrets.token_hex(12)}", tail)
        self.canaries[kind] = canary
        return canary.value

    def __getitem__(self, kind: str) -> str:
        return self.canaries[kind].value

    def scan(self, where: str, data: bytes | str) -> list[str]:
        blob = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
        leaks: list[str] = []
        for canary in self.canaries.values():
            for needle, form in canary.needles().items():
                if needle in blob:
                    leaks.append(f"{where}: {canary.kind} ({form})")
                    break
        for match in BEARER_LINE.finditer(blob):
            leaks.append(f"{where}: bearer header {match.group(0)[:40]!r}…")
        leaks.extend(f"{where}: an emulator access token" for _ in self._tokens_in(blob))
        return leaks

    def scan_all(self, items: Iterable[tuple[str, bytes | str]]) -> list[str]:
        return [leak for where, data in items for leak in self.scan(where, data)]

    def _tokens_in(self, blob: bytes) -> Iterable[bytes]:
        if not self.token_hashes:
            return
        for run in _TOKEN_RUN.finditer(blob):
            text = run.group(0)
            for start in range(len(text) - TOKEN_LENGTH + 1):
                window = text[start : start + TOKEN_LENGTH]
                if hashlib.sha256(window).hexdigest() in self.token_hashes:
                    yield window
