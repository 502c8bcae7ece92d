from __future__ import annotations

import dataclasses

import pytest

from reconciler.model import (
    LABEL_APPLIED_DIGEST,
    LABEL_MANAGED_BY,
    Authentication,
    FieldMapping,
    SyncSettings,
)
from reconciler.plan.diff import diff_essences
from reconciler.plan.essence import (
    AppliedDigest,
    applied_digest,
    changed_sections,
    create_body,
    essence_of,
    patch_body,
)

from .helpers import spec


def test_mapping_order_does_not_change_the_essence() -> None:
    s = spec()
    reordered = dataclasses.replace(s, mappings=tuple(reversed(s.mappings)))
    assert essence_of(s) == essence_of(reordered)


def test_omitted_sync_settings_equal_the_server_defaults() -> None:
    explicit = spec(sync_settings=None)
    from reconciler.model import DEFAULT_SYNC_SETTINGS

    defaults = spec(sync_settings=DEFAULT_SYNC_SETTINGS)
    assert essence_of(explicit).doc == essence_of(defaults).doc


def test_owned_labels_are_kept_apart_from_user_labels() -> None:
    s = spec(labels={"team": "crm", LABEL_MANAGED_BY: "cxrecon", "cxrecon.io/x": "1"})
    essence = essence_of(s)
    assert essence.doc["labels"] == {"team": "crm"}
    assert set(essence.owned_labels) == {LABEL_MANAGED_BY, "cxrecon.io/x"}


def test_secret_credential_values_never_enter_the_essence_and_plain_ones_do() -> None:
    essence = essence_of(spec())
    assert essence.doc["authentication"]["credentials"] == {
        "clientId": "app-1",  # not writeOnly in the schema: compared and shown
        "clientSecret": "***",
    }


def test_a_referenced_or_server_masked_plain_credential_is_compared_by_fingerprint() -> None:
    referenced = spec(
        authentication=Authentication(
            type="OAUTH2", credentials={"clientId": "${env:X}", "clientSecret": "${env:S}"}
        )
    )
    masked = spec(
        authentication=Authentication(
            type="OAUTH2", credentials={"clientId": "********", "clientSecret": "********"}
        )
    )
    for s in (referenced, masked):
        assert essence_of(s).doc["authentication"]["credentials"] == {
            "clientId": "***",
            "clientSecret": "***",
        }
    # A value only one side knows is not a difference (the fingerprint decides).
    assert diff_essences(essence_of(spec()), essence_of(referenced)) == ()
    assert changed_sections(essence_of(masked), essence_of(spec())) == ()


def test_create_body_is_a_draft_with_resolved_credentials_and_owned_labels() -> None:
    s = spec()
    body = create_body(
        essence_of(s), {"clientId": "app-1", "clientSecret": "v"}, {LABEL_MANAGED_BY: "cxrecon"}
    )
    assert body["lifecycleStatus"] == "DRAFT"
    assert body["labels"] == {"team": "crm", LABEL_MANAGED_BY: "cxrecon"}
    assert [m["cxoneField"] for m in body["mappings"]] == [
        "contact.email",
        "contact.first_name",
        "contact.phone",
    ]
    assert body["syncSettings"] == {
        "batchSize": 200,
        "retryAttempts": 3,
        "syncIntervalMinutes": 15,
    }


def test_merge_patch_nulls_removed_keys_and_sends_mappings_whole() -> None:
    before = essence_of(spec(labels={"team": "crm", "old": "x"}))
    after = essence_of(
        spec(
            description=None,
            labels={"team": "crm"},
            mappings=(FieldMapping("contact.email", "Email", "INBOUND"),),
        )
    )
    sections = changed_sections(before, after)
    body = patch_body(before, after, sections=sections)
    assert body["description"] is None
    assert body["labels"] == {"old": None}
    assert body["mappings"] == [
        {"cxoneField": "contact.email", "crmField": "Email", "direction": "INBOUND"}
    ]
    assert "authentication" not in body
    assert "lifecycleStatus" not in body


def test_sync_settings_patch_carries_only_changed_keys() -> None:
    before = essence_of(spec())
    after = essence_of(spec(sync_settings=SyncSettings(batch_size=200, retry_attempts=5)))
    body = patch_body(before, after, sections=changed_sections(before, after))
    assert body == {"syncSettings": {"retryAttempts": 5}}


def test_authentication_cannot_be_patched_without_its_values() -> None:
    before = essence_of(spec())
    after = essence_of(spec())
    with pytest.raises(ValueError, match="credential values"):
        patch_body(before, after, sections=("authentication",))
    body = patch_body(
        before,
        after,
        sections=("authentication",),
        credentials={"clientId": "a", "clientSecret": "b"},
    )
    assert body["authentication"]["type"] == "OAUTH2"


def test_applied_digest_fits_a_label_and_round_trips() -> None:
    label = applied_digest(essence_of(spec()))
    assert len(label) < 63
    parsed = AppliedDigest.parse(label)
    assert parsed is not None
    assert set(parsed.sections) >= {"mappings", "labels"}
    assert AppliedDigest.parse("garbage") is None
    assert AppliedDigest.parse(None) is None
    assert LABEL_APPLIED_DIGEST.startswith("cxrecon.io/")
