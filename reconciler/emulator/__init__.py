"""A local CXone API server (Starlette on uvicorn, state in SQLite) for trials, tests and
benchmarks. Production modules never import this package."""
