"""A local CXone API server (Starlette on uvicorn, state in SQLite) for trials, tests and
benchmarks. Production modules never import this package.

Other packages import only the modules `__all__` names; the rest are this package's own.
"""

__all__ = ["app", "config", "control", "embedded", "runtime", "server", "store"]
