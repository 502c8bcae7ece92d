"""YAML documents: strict loading that remembers where every value was written, JSON Schema
checks mapped back to those places, and YAML writing that reads back as meant.
"""
