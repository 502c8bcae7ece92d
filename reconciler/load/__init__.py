"""Loading the desired state: find connector files, substitute `${var:}` values, check
references, schema and lint rules, and report every problem in one run.

Other packages import only the modules `__all__` names; the rest are this package's own.
"""

__all__ = ["cache", "checked", "desired", "files", "incremental", "references", "secret_lookup"]
