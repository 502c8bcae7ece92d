"""The desired-state digest a saved plan is checked against keeps its value: the same
desired state digests to the same hex string across cxrecon versions (pinned below), and
the fast per-connector encoding it hashes is exactly the canonical JSON of `to_api()`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.hashing import canonical_json, desired_state_digest
from reconciler.model import (
    LABEL_APPLIED_DIGEST,
    LABEL_MANAGED_BY,
    Authentication,
    ConnectorSpec,
    DesiredConnector,
    FieldMapping,
    SyncSettings,
)

from .helpers import desired, spec


def _fixture() -> list[DesiredConnector]:
    """Every optional part present and absent, escapes, non-ASCII text, unsorted keys and
    names (the digest sorts them), cxrecon's own labels."""
    return [
        desired(spec("zz-last", labels={"z": "1", "a": 'q"uote\\', LABEL_MANAGED_BY: "x"})),
        desired(
            spec(
                "a-first",
                description=None,
                sync_settings=None,
                mappings=(
                    FieldMapping("z.field", "Zé", "OUTBOUND"),
                    FieldMapping("a.field", "line\nbreak\t\u0001", "INBOUND", "trim"),
                ),
                authentication=Authentication("API_KEY", {"headerName": "X", "apiKey": "${env:K}"}),
                labels={},
            )
        ),
        desired(
            spec(
                "mid-ünïcode",
                description="emoji 🎉 and \u2028 separator",
                sync_settings=SyncSettings(1, 2, 3),
                labels={LABEL_APPLIED_DIGEST: "1.a.b"},
                mappings=(),
            )
        ),
    ]


#: Computed by cxrecon before the digest was hashed connector by connector: saved plans
#: written by earlier versions compare against this value, so it must never change.
PINNED = {
    "production": "a8d910d4066271512978d13a76bf048246d11a49e5f4baeeb17cbecde30d8a4e",
    None: "e96090af53c2b696f939114e05221b1d47c2c42fc2d1350c9dfaccfb757a4f5f",
}


def test_the_desired_state_digest_keeps_its_pinned_value() -> None:
    connectors = _fixture()
    for environment, value in PINNED.items():
        assert desired_state_digest(connectors, environment) == value
        assert desired_state_digest(list(reversed(connectors)), environment) == value


def test_a_change_to_any_part_of_a_spec_changes_the_digest() -> None:
    connectors = _fixture()
    before = desired_state_digest(connectors, None)
    base = connectors[1].spec
    variants = [
        dataclasses.replace(base, description="now set"),
        dataclasses.replace(base, sync_settings=SyncSettings()),
        dataclasses.replace(base, mappings=base.mappings[1:]),
        dataclasses.replace(base, labels={"team": "crm"}),
        dataclasses.replace(base, version="2.0.0"),
    ]
    for variant in variants:
        changed = [connectors[0], dataclasses.replace(connectors[1], spec=variant), connectors[2]]
        assert desired_state_digest(changed, None) != before
    assert desired_state_digest(connectors, "production") != before


TEXT = st.one_of(st.sampled_from(["", "a", 'q"', "b\\s", "é", "\x00\x1f", "🎉"]), st.text())
NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70), st.booleans(), st.floats(allow_nan=True, allow_infinity=True)
)


@st.composite
def odd_specs(draw: st.DrawFn) -> ConnectorSpec:
    """Specs with any text, and the number types a hand-built spec might hold."""
    mappings = draw(
        st.lists(st.builds(FieldMapping, TEXT, TEXT, TEXT, st.one_of(st.none(), TEXT)), max_size=3)
    )
    sync = st.builds(SyncSettings, NUMBERS, NUMBERS, NUMBERS)
    return ConnectorSpec(
        name=draw(TEXT),
        description=draw(st.one_of(st.none(), TEXT)),
        lifecycle_status=draw(TEXT),
        connector_type=draw(TEXT),
        endpoint_url=draw(TEXT),
        authentication=Authentication(draw(TEXT), draw(st.dictionaries(TEXT, TEXT, max_size=3))),
        mappings=tuple(mappings),
        sync_settings=draw(st.one_of(st.none(), sync)),
        version=draw(TEXT),
        labels=draw(st.dictionaries(TEXT, TEXT, max_size=3)),
    )


def _reference(connectors: list[DesiredConnector], environment: str | None) -> str:
    """The digest as first written: one canonical JSON document of every sorted spec."""
    specs = sorted((d.spec.to_api() for d in connectors), key=lambda s: str(s["name"]))
    return hashlib.sha256(canonical_json([environment, specs])).hexdigest()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(odd_specs(), max_size=4), st.one_of(st.none(), TEXT))
def test_the_digest_equals_one_canonical_document_of_every_spec(
    specs: list[ConnectorSpec], environment: str | None
) -> None:
    connectors = [desired(s) for s in specs]
    assert desired_state_digest(connectors, environment) == _reference(connectors, environment)


def test_canonical_json_is_sorted_compact_and_not_ascii_escaped() -> None:
    value = {"b": [1, None, True], "a": "é\n"}
    assert canonical_json(value) == '{"a":"é\\n","b":[1,null,true]}'.encode()
    assert (
        canonical_json(value)
        == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
