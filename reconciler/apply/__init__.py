"""Apply: execute a plan connector by connector (create → PATCH → lifecycle) with
If-Match guards, re-plan after conflicts, run CRM data syncs, and write the audit log.

Other packages import only the modules `__all__` names; the rest are this package's own.
"""

__all__ = [
    "actor",
    "audit",
    "audit_reader",
    "calltrace",
    "context",
    "datasync",
    "policy_hold",
    "results",
    "run",
]
