"""The error tree every stage raises; the CLI turns these into messages and exit codes.

    CxreconError                    anything cxrecon reports to a user (exit 1)
     ├── ConfigError                bad desired state or project file; carries diagnostics
     ├── SecretResolutionError      a ${env:}/${file:} reference that cannot be resolved
     ├── PlanError                  a request that cannot be planned (e.g. back to DRAFT)
     ├── StalePlanError             a saved plan no longer matches git or the tenant
     ├── ApplyError                 one or more connectors failed to apply
     └── ApiError                   the CXone API (tree in reconciler.cxone.errors)

Every message says what went wrong, where (file:line:col or connector name) and
what to do. No message ever contains a secret value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.model import Diagnostic


class CxreconError(Exception):
    """Base of every error cxrecon reports to a user."""

    exit_code = 1


class ConfigError(CxreconError):
    """The desired state or the project file is invalid."""

    def __init__(self, message: str, diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__(message)
        self.diagnostics = tuple(diagnostics)


class SecretResolutionError(CxreconError):
    """A secret reference could not be resolved (names the variable, never a value)."""


class PlanError(CxreconError):
    """The desired state asks for something the API cannot do."""


class StalePlanError(CxreconError):
    """A saved plan was computed from a state that no longer holds."""


class ApplyError(CxreconError):
    """At least one connector failed to apply."""


class ApiError(CxreconError):
    """A call to the CXone API failed; subclasses live in reconciler.cxone.errors."""
