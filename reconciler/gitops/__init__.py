"""Git-facing views of the tenant: drift reports, `drift --write-back` edits of the
connector files, and `dump` of a tenant into a connectors repository.

Other packages import only the modules `__all__` names; the rest are this package's own.
"""

__all__ = ["drift", "dump", "dump_files", "dump_yaml", "init_files", "workflows", "writeback"]
