"""The direct section-by-section diff (issue 16) says exactly what deepdiff says: the same
paths, parts, kinds, before/after values, masking and order, on generated essence pairs.

The cost side (a plan where every connector changed within 2× of one where 1 % did) is
measured by `benchmarks/bench_plan.py --scenario all-changed`, not timed here.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.model import (
    LABEL_APPLIED_DIGEST,
    LABEL_MANAGED_BY,
    Authentication,
    ConnectorSpec,
    FieldMapping,
    SyncSettings,
)
from reconciler.plan.diff import ChangeKind, diff_essences, diff_with_deepdiff
from reconciler.plan.essence import SECTIONS, Essence, essence_of
from reconciler.secret import MASK

from .helpers import spec

PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Small vocabularies, so that two generated connectors share most keys and differ in a few.
FIELDS = st.sampled_from(
    ["contact.email", "contact.phone", "contact.first_name", "case.id", "case.subject"]
)
WORDS = st.sampled_from(["", "a", "b", "Email", "Phone", "x y", "é", "line\nbreak"])
DIRECTIONS = st.sampled_from(["INBOUND", "OUTBOUND", "BIDIRECTIONAL"])
#: Credential keys and label names, secret-looking ones included (their values are masked).
KEYS = st.sampled_from(
    ["clientId", "clientSecret", "apiKey", "headerName", "password", "team", "tier", "token"]
)
LABEL_KEYS = st.one_of(KEYS, st.sampled_from([LABEL_MANAGED_BY, LABEL_APPLIED_DIGEST]))
#: Well-typed numbers, plus what a hand-built spec might hold: a bool for an int, a float.
NUMBERS = st.one_of(st.integers(1, 3), st.sampled_from([True, False, 1.0, 2.5, float("nan")]))


@st.composite
def specs(draw: st.DrawFn) -> ConnectorSpec:
    mappings = draw(
        st.dictionaries(
            FIELDS,
            st.tuples(WORDS, DIRECTIONS, st.one_of(st.none(), WORDS)),
            max_size=4,
        )
    )
    sync = draw(
        st.one_of(
            st.none(),
            st.builds(SyncSettings, batch_size=NUMBERS, retry_attempts=NUMBERS),
            st.builds(SyncSettings, sync_interval_minutes=st.integers(1, 3)),
        )
    )
    return ConnectorSpec(
        name="c",
        description=draw(st.one_of(st.none(), WORDS)),
        lifecycle_status=draw(st.sampled_from(["DRAFT", "ACTIVE", "INACTIVE"])),
        connector_type=draw(st.sampled_from(["SALESFORCE", "CUSTOM"])),
        endpoint_url=draw(st.sampled_from(["https://a.example", "https://b.example"])),
        authentication=Authentication(
            type=draw(st.sampled_from(["OAUTH2", "API_KEY"])),
            credentials=draw(st.dictionaries(KEYS, WORDS, max_size=3)),
        ),
        mappings=tuple(FieldMapping(k, c, d, t) for k, (c, d, t) in mappings.items()),
        sync_settings=sync,
        version=draw(st.sampled_from(["1.0.0", "1.1.0"])),
        labels=draw(st.dictionaries(LABEL_KEYS, WORDS, max_size=3)),
    )


@st.composite
def spec_pairs(draw: st.DrawFn) -> tuple[ConnectorSpec, ConnectorSpec]:
    """Two independent specs, or one and a copy with a few fields redrawn (the common case:
    a connector changed in one or two places)."""
    first = draw(specs())
    if draw(st.booleans()):
        return first, draw(specs())
    other = draw(specs())
    fields = draw(
        st.sets(
            st.sampled_from(
                [
                    "description",
                    "lifecycle_status",
                    "authentication",
                    "mappings",
                    "sync_settings",
                    "labels",
                    "version",
                ]
            ),
            max_size=2,
        )
    )
    changes = {f: getattr(other, f) for f in fields}
    return first, dataclasses.replace(first, **changes)


def assert_same(before: Essence, after: Essence) -> None:
    fast = diff_essences(before, after)
    reference = diff_with_deepdiff(before, after)
    assert fast == reference
    # FieldChange equality ignores dict order and 1 == True: compare what renderers see too.
    assert [(type(c.before), type(c.after), repr(c)) for c in fast] == [
        (type(c.before), type(c.after), repr(c)) for c in reference
    ]


@PROPERTY_SETTINGS
@given(spec_pairs())
def test_the_direct_diff_agrees_with_deepdiff_on_generated_connectors(
    pair: tuple[ConnectorSpec, ConnectorSpec],
) -> None:
    remote, desired = pair
    assert_same(essence_of(remote), essence_of(desired))


# Essence documents of any JSON shape under the usual sections: lists, nested objects,
# floats, keys deepdiff skips ("__x"); these take deepdiff's way, section by section.
JSON_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from([0.5, 1.0]), WORDS
)
JSON_KEYS = st.one_of(KEYS, st.sampled_from(["__private", "0", "1"]))
JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(JSON_KEYS, inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    return {section: draw(JSON) for section in SECTIONS}


@PROPERTY_SETTINGS
@given(documents(), documents(), st.sets(st.sampled_from(SECTIONS)))
def test_the_direct_diff_agrees_with_deepdiff_on_any_json_shape(
    old: dict[str, Any], new: dict[str, Any], keep: set[str]
) -> None:
    mixed = {s: old[s] if s in keep else new[s] for s in SECTIONS}
    before = Essence(name="c", doc=old, owned_labels={})  # type: ignore[arg-type]
    after = Essence(name="c", doc=mixed, owned_labels={})  # type: ignore[arg-type]
    assert_same(before, after)


def test_one_changed_mapping_field_reads_as_that_field() -> None:
    base = spec()
    mappings = tuple(
        dataclasses.replace(m, direction="OUTBOUND") if m.cxone_field == "contact.phone" else m
        for m in base.mappings
    )
    changes = diff_essences(
        essence_of(base), essence_of(dataclasses.replace(base, mappings=mappings))
    )
    assert [(c.path, c.kind, c.before, c.after) for c in changes] == [
        ("mappings[contact.phone].direction", ChangeKind.CHANGED, "INBOUND", "OUTBOUND")
    ]


def test_secret_values_are_masked_the_same_way_and_only_the_schemas_write_only_ones() -> None:
    base = spec()
    rotated = dataclasses.replace(
        base,
        authentication=Authentication(type="OAUTH2", credentials={"clientId": "app-2"}),
        labels={"team": "crm", "apiKey": "not-a-secret"},
    )
    before, after = essence_of(base), essence_of(rotated)
    changes = diff_essences(before, after)
    assert changes == diff_with_deepdiff(before, after)
    assert [(c.path, c.kind, c.secret, c.before, c.after) for c in changes] == [
        ("authentication.credentials[clientId]", ChangeKind.CHANGED, False, "app-1", "app-2"),
        ("authentication.credentials[clientSecret]", ChangeKind.REMOVED, True, MASK, None),
        # A label is never a credential, whatever its key sounds like.
        ("labels[apiKey]", ChangeKind.ADDED, False, None, "not-a-secret"),
    ]


def test_a_plain_diff_does_not_load_deepdiff() -> None:
    code = (
        "import sys\n"
        "from reconciler.model import Authentication, ConnectorSpec\n"
        "from reconciler.plan.diff import diff_essences\n"
        "from reconciler.plan.essence import essence_of\n"
        "def spec(description, labels):\n"
        "    auth = Authentication(type='API_KEY', credentials={'apiKey': 'k'})\n"
        "    return ConnectorSpec(name='c', description=description, lifecycle_status='ACTIVE',\n"
        "        connector_type='CUSTOM', endpoint_url='https://x.example',\n"
        "        authentication=auth, labels=labels)\n"
        "a, b = spec('a', {'t': 'x'}), spec('b', {'t': 'y', 'u': 'z'})\n"
        "assert len(diff_essences(essence_of(a), essence_of(b))) == 3\n"
        "print('deepdiff' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"
