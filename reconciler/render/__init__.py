"""Renderers of a plan: text for terminals, JSON for machines, Markdown for PR comments."""
