"""Planning: the normalized connector essence, typed field diffs, credential fingerprints,
the frozen `Plan` and how it is built, and saved plans for `apply --plan`.

Other packages import only the modules `__all__` names; the rest are this package's own.
"""

__all__ = [
    "applied",
    "binding",
    "build",
    "changes",
    "comparison",
    "credentials",
    "diff",
    "document",
    "essence",
    "policy",
    "review_rule",
    "reviewed",
    "saved",
    "setup",
]
