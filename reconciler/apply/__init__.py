"""Apply: execute a plan connector by connector (create → PATCH → lifecycle) with
If-Match guards, re-plan after conflicts, run CRM data syncs, and write the audit log.
"""
