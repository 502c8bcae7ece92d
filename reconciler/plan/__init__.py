"""Planning: the normalized connector essence, typed field diffs, credential fingerprints,
the frozen `Plan` and how it is built, and saved plans for `apply --plan`.
"""
