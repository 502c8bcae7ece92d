"""Configuration read once per run: the project file `cxrecon.yaml` (environments, safety,
sync windows) and the connection settings of a CXone tenant.
"""
