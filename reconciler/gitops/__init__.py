"""Git-facing views of the tenant: drift reports, `drift --write-back` edits of the
connector files, and `dump` of a tenant into a connectors repository.
"""
