"""Controller mode (`cxrecon reconcile`): a long-running loop that pulls git, plans and applies
with the same code as `plan`/`apply`, within sync windows, and serves health and metrics.
"""
