"""`EmulatorControl`: a small synchronous client for an emulator's admin routes and tokens.

For tests, benchmarks and scripts: `control.token()`, `control.faults(faultRate=0.1)`,
`control.edit(id, {...})`, `control.stats()`. Works over a real port or any httpx transport.
"""

from __future__ import annotations

from typing import Any

import httpx

from reconciler.config.settings import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET

TOKEN_ATTEMPTS = 10


class EmulatorControlError(RuntimeError):
    """An admin call answered with an error status (its JSON message is included)."""


class EmulatorControl:
    """Admin and token calls against the emulator at `root_url` (no /api/v2 suffix)."""

    def __init__(self, root_url: str, transport: httpx.BaseTransport | None = None) -> None:
        self.root_url = root_url.rstrip("/")
        self.base_url = self.root_url + "/api/v2"
        self._http = httpx.Client(base_url=self.root_url, transport=transport, timeout=30.0)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EmulatorControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # tokens
    def token(
        self,
        client_id: str = EMULATOR_CLIENT_ID,
        client_secret: str = EMULATOR_CLIENT_SECRET,
        scope: str | None = None,
    ) -> str:
        data = {"grant_type": "client_credentials", "client_id": client_id}
        data["client_secret"] = client_secret
        if scope is not None:
            data["scope"] = scope
        # Setup should not fail on the faults a test switched on for the code under test.
        for attempt in range(TOKEN_ATTEMPTS):
            try:
                response = self._http.post("/api/v2/oauth/token", data=data)
            except httpx.TransportError:
                if attempt == TOKEN_ATTEMPTS - 1:
                    raise
                continue
            if response.status_code < 500 and response.status_code != 429:
                break
        self._check(response)
        token: str = response.json()["access_token"]
        return token

    def auth_headers(self, scope: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(scope=scope)}"}

    # admin routes
    def admin(self, method: str, path: str, json: Any = None) -> httpx.Response:
        """Call `/_emulator/<path>`; raises EmulatorControlError on an error status."""
        response = self._http.request(method, "/_emulator/" + path.lstrip("/"), json=json)
        self._check(response)
        return response

    def stats(self) -> dict[str, Any]:
        body: dict[str, Any] = self.admin("GET", "stats").json()
        return body

    def reset(self, tokens: bool = False) -> None:
        self.admin("POST", "reset", {"tokens": tokens})

    def faults(self, **settings: Any) -> dict[str, Any]:
        """Change run-time settings, e.g. faults(faultRate=0.2, seed=7, next=[{"kind": "drop"}])."""
        body: dict[str, Any] = self.admin("POST", "faults", settings).json()
        return body

    def advance_clock(self, seconds: float) -> None:
        self.admin("POST", "clock", {"advanceSeconds": seconds})

    def seed(self, connector: dict[str, Any]) -> dict[str, Any]:
        """Create a connector in any lifecycle state, as if made outside cxrecon."""
        body: dict[str, Any] = self.admin("POST", "connectors", connector).json()
        return body

    def edit(self, connector_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        """An out-of-band change (a person in the CXone UI); bumps the ETag."""
        body: dict[str, Any] = self.admin("PATCH", f"connectors/{connector_id}", patch).json()
        return body

    def delete(self, connector_id: str) -> None:
        self.admin("DELETE", f"connectors/{connector_id}")

    @staticmethod
    def _check(response: httpx.Response) -> None:
        if response.status_code >= 400:
            raise EmulatorControlError(
                f"{response.request.method} {response.request.url.path} answered "
                f"{response.status_code}: {response.text[:500]}"
            )
