"""cxrecon: a declarative GitOps reconciler for NICE CXone CRM connectors.

Connector configuration lives as YAML in git; cxrecon validates it, diffs it
against the tenant, renders a reviewable plan and applies it with ETag guards.
"""

from __future__ import annotations

__version__ = "0.1.0"
