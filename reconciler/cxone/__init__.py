"""The CXone API client: token lifecycle, safe retries, pacing, pagination, typed errors.

Other packages import only the modules `__all__` names; the rest are this package's own.
"""

__all__ = ["client", "errors", "stats"]
