"""Applying what the project leaves to CXone (reconciler.config.policies) to essences.

An ignored field is taken out of both sides before they are compared and digested, so it
is never a difference, never drift and never in a plan; when a write happens anyway, the
body carries CXone's current value for it, so it is never written either.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase
from typing import Any, Final

from reconciler.config.policies import Policy
from reconciler.plan.diff import format_path
from reconciler.plan.essence import Essence, EssenceDoc

_LITERAL: Final = {"[": "[[]", "]": "[]]"}


def matcher(patterns: Sequence[str]) -> Callable[[tuple[str, ...]], bool]:
    """Whether a field path (as parts) is ignored: a pattern names it or a parent, in the
    plan's spelling (`mappings[contact.email].direction`) or dotted (`labels.team`), with
    shell-style wildcards."""

    # `[` and `]` are the plan's spelling of a mapping key, not fnmatch's character sets.
    literal = tuple("".join(_LITERAL.get(c, c) for c in p) for p in patterns)

    def ignored(parts: tuple[str, ...]) -> bool:
        for size in range(1, len(parts) + 1):
            head = parts[:size]
            spellings = (format_path(list(head)), ".".join(head))
            if any(fnmatchcase(s, p) for s in spellings for p in literal):
                return True
        return False

    return ignored


def compared(have: Essence, want: Essence, policy: Policy) -> tuple[Essence, Essence]:
    """Both sides with every ignored field taken out (and, with `labels: merge`, CXone's
    labels that git does not declare): what is diffed and digested."""
    ignored = matcher(policy.ignore)
    have_doc = _without(have.doc, ignored)
    want_doc = _without(want.doc, ignored)
    if policy.labels_merge:
        have_doc["labels"] = {
            k: v for k, v in have_doc["labels"].items() if k in want_doc["labels"]
        }
    return _essence(have, have_doc), _essence(want, want_doc)


def to_write(have: Essence, want: Essence, policy: Policy) -> Essence:
    """What a write sends: git's values, except CXone's for every ignored field (and every
    label git does not declare, with `labels: merge`)."""
    ignored = matcher(policy.ignore)
    doc: Any = copy.deepcopy(want.doc)
    _fill(doc, have.doc, ignored, ())
    if policy.labels_merge:
        doc["labels"] = {**have.doc["labels"], **want.doc["labels"]}
    return _essence(want, doc)


def _essence(like: Essence, doc: Any) -> Essence:
    return Essence(name=like.name, doc=doc, owned_labels=like.owned_labels)


def _without(doc: EssenceDoc, ignored: Callable[[tuple[str, ...]], bool]) -> Any:
    def strip(node: Any, parts: tuple[str, ...]) -> Any:
        if not isinstance(node, dict):
            return node
        return {k: strip(v, (*parts, k)) for k, v in node.items() if not ignored((*parts, str(k)))}

    # Every section stays (the planner compares them by name); a whole ignored one is None.
    return {k: None if ignored((k,)) else strip(v, (k,)) for k, v in doc.items()}


def _fill(
    doc: Any, source: Any, ignored: Callable[[tuple[str, ...]], bool], parts: tuple[str, ...]
) -> None:
    """Set every ignored path of `doc` to `source`'s value (or remove it where `source` has
    none), descending where both sides are objects."""
    keys = set(doc) | set(source) if isinstance(source, dict) else set(doc)
    for key in sorted(keys, key=str):
        here = (*parts, str(key))
        if ignored(here):
            if isinstance(source, dict) and key in source:
                doc[key] = copy.deepcopy(source[key])
            else:
                doc.pop(key, None)
        elif isinstance(doc.get(key), dict) and isinstance(source, dict):
            _fill(doc[key], source.get(key, {}), ignored, here)
