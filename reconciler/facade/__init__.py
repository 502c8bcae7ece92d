"""The library entry point: open a project, load the desired state, plan against a tenant,
apply a plan, report drift, dump a tenant. `reconciler.__all__` exports these.

The CLI, the controller, the tests and the benchmarks all call these functions, so the
sequence fetch → plan (or verify a saved plan) → confirm → execute → sync exists once. Hooks
(`ApplyHooks`) let a caller decide what is shown, confirmed and written: the CLI prints and
asks; the controller chooses per connector (sync windows, backoff). See
docs/architecture.md.

Names load on first use, as `reconciler`'s do: a command that needs one facade module
(`validate`, no network) does not import the API client with the package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Where the names of `__all__` are defined, searched in this order.
_MODULES = (
    "reconciler.facade.planning",
    "reconciler.facade.applying",
    "reconciler.facade.approval",
    "reconciler.facade.saved",
)

if TYPE_CHECKING:
    from reconciler.facade.applying import (
        ApplyHooks,
        ApplyOptions,
        ApplyRun,
        StaleRule,
        SyncRequest,
        apply_changes,
        apply_desired,
        open_audit_log,
    )
    from reconciler.facade.approval import Approval
    from reconciler.facade.planning import (
        ConnectorSource,
        PlanRun,
        applied_history,
        check_drift,
        compare_plans,
        connect,
        dump_tenant,
        load_desired,
        make_plan,
        open_project,
        plan_connectors,
        plan_scope,
        secrets_for,
    )
    from reconciler.facade.saved import bind_saved_plan, binding_here, read_saved_plan, save_plan

__all__ = [
    "ApplyHooks",
    "ApplyOptions",
    "ApplyRun",
    "Approval",
    "ConnectorSource",
    "PlanRun",
    "StaleRule",
    "SyncRequest",
    "applied_history",
    "apply_changes",
    "apply_desired",
    "bind_saved_plan",
    "binding_here",
    "check_drift",
    "compare_plans",
    "connect",
    "dump_tenant",
    "load_desired",
    "make_plan",
    "open_audit_log",
    "open_project",
    "plan_connectors",
    "plan_scope",
    "read_saved_plan",
    "save_plan",
    "secrets_for",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        for module_name in _MODULES:
            module = importlib.import_module(module_name)
            if hasattr(module, name):
                value = getattr(module, name)
                globals()[name] = value
                return value
    raise AttributeError(f"module 'reconciler.facade' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
