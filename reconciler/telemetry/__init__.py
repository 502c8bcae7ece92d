"""What a run reports about itself: API figures and outcomes as a run summary, a Prometheus
text file, and the one catalogue of metric names the controller's /metrics shares.
"""
