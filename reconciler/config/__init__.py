"""Configuration read once per run: the project file `cxrecon.yaml` (environments, safety,
sync windows) and the connection settings of a CXone tenant.

Other packages import only the modules `__all__` names; the rest are this package's own.
"""

__all__ = [
    "durations",
    "identity",
    "notifications",
    "overrides",
    "policies",
    "project",
    "settings",
    "windows",
]
