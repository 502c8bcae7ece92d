"""Controller mode (`cxrecon reconcile`): a long-running loop that pulls git, plans and applies
with the same code as `plan`/`apply`, within sync windows, and serves health and metrics.

Other packages import only the modules `__all__` names; the rest are this package's own.
"""

__all__ = ["backoff", "cycle", "health", "loop", "page", "report", "status_client"]
