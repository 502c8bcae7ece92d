"""The error tree every stage raises; the CLI turns these into messages and exit codes.

    CxreconError                    anything cxrecon reports to a user (exit 1)
     ├── ConfigError                bad desired state or project file; carries diagnostics
     ├── SecretResolutionError      a ${env:}/${file:} reference that cannot be resolved
     ├── PlanError                  a plan that cannot be saved as asked (a literal secret)
     ├── SavedPlanError             a saved plan file that cannot be used (unreadable, edited)
     ├── StalePlanError             a saved plan no longer matches git or the tenant
     │    └── StaleSavedPlanError   …because pinned connectors changed in CXone (named)
     ├── NotConfirmed               apply without a yes, --auto-approve or a reviewed plan
     ├── DumpError                  a dump that cannot be written where asked
     ├── GitHubError                a `gh` call of the workflow helpers failed
     ├── GitHubContextError         the Actions runner context is missing or malformed
     └── ApiError                   the CXone API (tree in reconciler.cxone.errors)

A connector that fails to apply is a result (reconciler.apply.results.ConnectorResult),
not an exception: one failure never ends the run for the others.

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
    """A plan cannot be saved as asked (e.g. a credential that is not a reference)."""


class SavedPlanError(CxreconError):
    """A saved plan file that cannot be used as is (unreadable, edited, another format)."""


class StalePlanError(CxreconError):
    """A saved plan was computed from a state that no longer holds."""


class StaleSavedPlanError(StalePlanError):
    """A saved plan whose pinned connectors changed in CXone; `connectors` names them."""

    def __init__(self, message: str, connectors: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.connectors = tuple(connectors)


class NotConfirmed(CxreconError):
    """Apply needs a human yes, --auto-approve, or a reviewed saved plan."""


class DumpError(CxreconError):
    """The dump cannot be written where asked (exists, not a directory, no permission)."""


class GitHubError(CxreconError):
    """A GitHub call made through `gh` failed; the message says which and what to do."""


class GitHubContextError(CxreconError):
    """The GitHub Actions context (event payload, variables) is missing or malformed."""


class ApiError(CxreconError):
    """A call to the CXone API failed; subclasses live in reconciler.cxone.errors."""
