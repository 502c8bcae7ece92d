"""The CXone API client: token lifecycle, safe retries, pacing, pagination, typed errors."""
