"""YAML documents: strict loading that remembers where every value was written, JSON Schema
checks mapped back to those places, and YAML writing that reads back as meant.

Other packages import only the modules `__all__` names; the rest are this package's own.
"""

__all__ = ["regular", "schema", "yamlload", "yamlwrite"]
