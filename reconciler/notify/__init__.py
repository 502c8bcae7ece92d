"""Notifications (docs/notifications.md): events built from drift and apply reports, one
message per medium, sent through Apprise, and what the controller already told.

Other packages import only the modules `__all__` names; the rest are this package's own.
"""

__all__ = ["events", "memory", "runs", "send"]
