"""What a run reports about itself: API figures and outcomes as a run summary, a Prometheus
text file, and the one catalogue of metric names the controller's /metrics shares.

Other packages import only the modules `__all__` names; the rest are this package's own.
"""

__all__ = ["names", "summary"]
