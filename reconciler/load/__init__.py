"""Loading the desired state: find connector files, substitute `${var:}` values, check
references, schema and lint rules, and report every problem in one run.
"""
