"""Renderers of a plan: text for terminals, JSON for machines, Markdown for PR comments.

Other packages import only the modules `__all__` names; the rest are this package's own.
"""

__all__ = ["apply", "comparison", "drift", "escape", "json_format", "markdown", "progress", "text"]
