"""The `cxrecon` command line: thin click wrappers over the library, one module per command.

Other packages import only the modules `__all__` names; the rest are this package's own.
"""

__all__ = ["main"]
