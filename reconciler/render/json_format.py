"""The plan as versioned JSON for machines (`--format json`); the document itself is built by
reconciler.plan.document (saved plans embed the same one)."""

from __future__ import annotations

import json

from reconciler.plan.changes import Plan
from reconciler.plan.document import plan_document


class JsonRenderer:
    def render(self, plan: Plan) -> str:
        return json.dumps(plan_document(plan), indent=2, ensure_ascii=False) + "\n"


def render(plan: Plan) -> str:
    return JsonRenderer().render(plan)
