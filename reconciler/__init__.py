"""cxrecon: a declarative GitOps reconciler for NICE CXone CRM connectors.

Connector configuration lives as YAML in git; cxrecon validates it, diffs it against the
tenant, renders a reviewable plan and applies it with ETag guards. This module is the
public Python API (`__all__`): the facade's functions (reconciler.facade) and the values
they take and return. Names load on first use, so `import reconciler` stays cheap.

    import asyncio, reconciler
    from reconciler.testing import embedded_emulator

    async def main(base_url: str) -> None:
        project = reconciler.open_project()
        loaded = reconciler.load_desired(project)
        settings = reconciler.ConnectionSettings.for_emulator(base_url)
        async with reconciler.connect(settings) as client:
            run = await reconciler.apply_desired(
                project, client, loaded, secrets=reconciler.secrets_for(project)
            )
        print(run.report.outcome_counts())

See README.md ("Use it from Python") and docs/architecture.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name → the module that defines it
_EXPORTS: dict[str, str] = {
    # the facade
    "open_project": "reconciler.facade",
    "load_desired": "reconciler.facade",
    "secrets_for": "reconciler.facade",
    "connect": "reconciler.facade",
    "make_plan": "reconciler.facade",
    "plan_connectors": "reconciler.facade",
    "apply_desired": "reconciler.facade",
    "apply_changes": "reconciler.facade",
    "check_drift": "reconciler.facade",
    "dump_tenant": "reconciler.facade",
    "ApplyHooks": "reconciler.facade",
    "ApplyOptions": "reconciler.facade",
    "ApplyRun": "reconciler.facade",
    "Approval": "reconciler.facade",
    "PlanRun": "reconciler.facade",
    "SyncRequest": "reconciler.facade",
    # values between the stages
    "Project": "reconciler.config.project",
    "ConnectionSettings": "reconciler.config.settings",
    "LoadResult": "reconciler.load.desired",
    "SecretLookup": "reconciler.load.secret_lookup",
    "DesiredConnector": "reconciler.model",
    "RemoteConnector": "reconciler.model",
    "ConnectorSpec": "reconciler.model",
    "Diagnostic": "reconciler.model",
    "Plan": "reconciler.plan.changes",
    "ConnectorChange": "reconciler.plan.changes",
    "Action": "reconciler.plan.changes",
    "FieldChange": "reconciler.plan.diff",
    "SavedPlan": "reconciler.plan.saved",
    "ApplyReport": "reconciler.apply.run",
    "ConnectorResult": "reconciler.apply.results",
    "Outcome": "reconciler.apply.results",
    "AuditLog": "reconciler.apply.audit",
    "DEFAULT_AUDIT_LOG": "reconciler.apply.audit",
    "DriftReport": "reconciler.gitops.drift",
    "Dump": "reconciler.gitops.dump",
    # the error tree
    "CxreconError": "reconciler.errors",
    "ConfigError": "reconciler.errors",
    "SecretResolutionError": "reconciler.errors",
    "StalePlanError": "reconciler.errors",
    "ApiError": "reconciler.errors",
}

__all__ = [
    "DEFAULT_AUDIT_LOG",
    "Action",
    "ApiError",
    "ApplyHooks",
    "ApplyOptions",
    "ApplyReport",
    "ApplyRun",
    "Approval",
    "AuditLog",
    "ConfigError",
    "ConnectionSettings",
    "ConnectorChange",
    "ConnectorResult",
    "ConnectorSpec",
    "CxreconError",
    "DesiredConnector",
    "Diagnostic",
    "DriftReport",
    "Dump",
    "FieldChange",
    "LoadResult",
    "Outcome",
    "Plan",
    "PlanRun",
    "Project",
    "RemoteConnector",
    "SavedPlan",
    "SecretLookup",
    "SecretResolutionError",
    "StalePlanError",
    "SyncRequest",
    "__version__",
    "apply_changes",
    "apply_desired",
    "check_drift",
    "connect",
    "dump_tenant",
    "load_desired",
    "make_plan",
    "open_project",
    "plan_connectors",
    "secrets_for",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'reconciler' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from reconciler.apply.audit import DEFAULT_AUDIT_LOG, AuditLog
    from reconciler.apply.results import ConnectorResult, Outcome
    from reconciler.apply.run import ApplyReport
    from reconciler.config.project import Project
    from reconciler.config.settings import ConnectionSettings
    from reconciler.errors import (
        ApiError,
        ConfigError,
        CxreconError,
        SecretResolutionError,
        StalePlanError,
    )
    from reconciler.facade import (
        ApplyHooks,
        ApplyOptions,
        ApplyRun,
        Approval,
        PlanRun,
        SyncRequest,
        apply_changes,
        apply_desired,
        check_drift,
        connect,
        dump_tenant,
        load_desired,
        make_plan,
        open_project,
        plan_connectors,
        secrets_for,
    )
    from reconciler.gitops.drift import DriftReport
    from reconciler.gitops.dump import Dump
    from reconciler.load.desired import LoadResult
    from reconciler.load.secret_lookup import SecretLookup
    from reconciler.model import ConnectorSpec, DesiredConnector, Diagnostic, RemoteConnector
    from reconciler.plan.changes import Action, ConnectorChange, Plan
    from reconciler.plan.diff import FieldChange
    from reconciler.plan.saved import SavedPlan
