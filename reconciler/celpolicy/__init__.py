"""Policies as code: the `policies:` of cxrecon.yaml, rules in CEL that every connector must
meet, checked by validate, plan, apply and the controller (docs/policies.md).

Not to be confused with `config/policies.py` (ignoreDifferences and managementPolicies:
what cxrecon leaves to CXone) nor `plan/policy.py` (those ignore rules applied to essences).

Other packages import only the modules `__all__` names; the rest are this package's own.
"""

__all__ = ["compile", "evaluate"]
