"""Every persisted digest keeps its bytes: saved-plan checksums and pins, the labels cxrecon
writes into CXone, idempotency keys, notified.json, the emulator's ETags, cache keys and the
digest `validate --json` prints. The values were computed by cxrecon before its hashes moved
into reconciler.hashing; a saved plan or a label made by an earlier release must still match.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from plan.helpers import spec

from reconciler.apply.idempotency import idempotency_key
from reconciler.apply.writes import expectation
from reconciler.config.notifications import Notification
from reconciler.config.project import EnvironmentConfig
from reconciler.emulator import resource
from reconciler.emulator.auth import _hash as token_hash
from reconciler.gitops.dump_names import _short_hash
from reconciler.load.cache import fingerprint_of
from reconciler.load.cache_key import CacheKey
from reconciler.load.checked import LoadContext, content_hash
from reconciler.load.desired import read_desired
from reconciler.model import Authentication, FieldMapping
from reconciler.notify.events import Event, EventKind, Item, Where, fingerprint
from reconciler.notify.memory import NoticeMemory
from reconciler.plan import credentials, pinned, saved
from reconciler.plan.essence import applied_digest, essence_of, section_digests, state_hash
from reconciler.secret import Secret

#: Non-ASCII text (two and three bytes, and beyond the BMP) wherever a writer's
#: `ensure_ascii` could change the bytes.
SPEC = spec(
    "Zé-日本",
    description="émoji 🎉",
    labels={"team": "crm-ü"},
    mappings=(FieldMapping("a.b", "Zé", "OUTBOUND", "trim"),),
    authentication=Authentication(
        "OAUTH2_CLIENT_CREDENTIALS", {"clientId": "cé", "clientSecret": "${env:S}"}
    ),
)


def test_the_labels_and_pins_of_a_connector_keep_their_bytes() -> None:
    essence = essence_of(SPEC)
    assert applied_digest(essence) == "1._chHU2gwvo0W.c7cpqsH3OogEd_9COf5KNsNZzkiaB1IYxA5d"
    assert section_digests(essence)["mappings"] == "zkia"
    assert state_hash(essence) == (
        "sha256:135545ae451e324543cfb53e047fb21701c638670cf455fee0838a6d0ff54642"
    )
    assert pinned.section_hashes(essence) == {
        "description": "73b72984da2fe08c08b994316fe7aa20",
        "connectorType": "aac1f729acef923e689b76b9210473f8",
        "endpointUrl": "3a8804596d5e9f2ecdfaa23a031e8a91",
        "lifecycleStatus": "77ff42a3ee266d7bdd15afca0b44c7ae",
        "version": "39fe4a40977d0585fd5704359e3685b0",
        "syncSettings": "36c359fd763bae31fa022b407a6388a9",
        "mappings": "ce489a75a0cd1762dc03f5fc7c3a01aa",
        "authentication": "07521855aff98c0b98a727e0abdeda64",
        "labels": "c40e5dd459cbf4678088b29236c4d227",
        "name": "0588ea2f9f1d2ce16cdca486344b80b9",
        "owner": "91efee6f9f6928a4b509f9e49a15b85e",
    }


def test_a_saved_plan_checksum_and_a_write_expectation_keep_their_bytes() -> None:
    doc = {"kind": "x", "plan": {"names": ["é", "🎉"], "n": 1}, "checksum": "ignored"}
    assert saved.checksum(doc) == (
        "sha256:b64e078ed55805ffefc02741abe8d1943c1aa01c18b6ea0618c3ddb034bed743"
    )
    written = expectation({"name": "é", "n": [1, 2]}, {"cxrecon.io/x": "ü", "y": None})
    assert written.digest == "a1b69a2f142501a250357066562947ba"


def test_idempotency_keys_keep_their_bytes() -> None:
    body = {
        "name": "Zé",
        "authentication": {"type": "T", "credentials": {"clientSecret": "s3cret", "id": "ü"}},
        "labels": {"b": "1", "a": "🎉"},
    }
    assert idempotency_key(body, "prod-é", "Zé") == (
        "cxrecon-119968017548d70699bfd15f4f0a92afe9a9505f98e422fb"
    )
    assert idempotency_key(body, None, "Zé") == (
        "cxrecon-fe15adb98ba69f194ba0909d26fc741f27e9b60cb6b17f42"
    )


def _lookup(value: str) -> str:
    return "plain-é" if value.startswith("${") else value


def test_credential_fingerprints_keep_their_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    salt = bytes(range(12))
    assert credentials.literal_fingerprint("välue", salt, 10) == (
        "l10.AAECAwQFBgcICQoL.SQgibDjq17h8LIsa"
    )
    given = {"clientId": "cé", "clientSecret": "${env:S}"}
    plain = {"clientId": "cé", "clientSecret": "plain-é"}
    checker = credentials.CredentialChecker(lookup=_lookup, log2_n=10)
    label = "s10.AAECAwQFBgcICQoL.tgLIF4Obf-lu.5e-KLZbbPcFPkWpL.wmd1PcvacH4i"
    # A label written by an earlier release still reads as unchanged...
    found = checker.check("OAUTH2_CLIENT_CREDENTIALS", given, label)
    assert found.status is credentials.CredentialStatus.UNCHANGED
    # ...and the same salt makes the same label today.
    monkeypatch.setattr(os, "urandom", lambda n: bytes(range(n)))
    assert checker.fingerprint("OAUTH2_CLIENT_CREDENTIALS", given, plain) == label


def test_notification_fingerprints_and_notified_json_keep_their_bytes(tmp_path: Path) -> None:
    assert fingerprint(["é", {"b": 1, "a": [None, True]}, Path("/x")]) == "f38f2fbc0c10e716"
    memory = NoticeMemory(tmp_path / "notified.json")
    destination = Notification("téam", Secret("json://127.0.0.1/"), ("drift",))
    item = Item("Zé", ("line",), fingerprint(["Zé", 1]))
    memory.said(destination, Event(EventKind.DRIFT, "1 changed", Where("prød"), (item,)))
    memory.save()
    assert (tmp_path / "notified.json").read_bytes() == NOTIFIED


NOTIFIED = (
    b'{"notReady": false, "told": {"t\xc3\xa9am": {"drift": {"pr\xc3\xb8d": '
    b'{"Z\xc3\xa9": "3b42af5218a19ab2"}}}}, "version": 1}\n'
)


def test_the_emulator_keeps_its_etags_and_digests() -> None:
    body = {"name": "é", "a": {"z": 1, "b": "🎉"}}
    assert resource.fingerprint("POST", "/connectors", body) == (
        "940a8d53266ce5281b93556fde07ebe84c971fe1c94cfd089e6f4601b095df7d"
    )
    assert resource.digest_credential("conn_1", "sécret") == (
        "sha256:d54e2bf3dc923e1b67eb8ebd60c3d3dfa54a0f4ee69989a79672e66f51af0eed"
    )
    doc = {"name": "é", "authentication": {"type": "T", "credentials": {}}}
    assert resource.build_row("conn_1", doc, 3, "t0", "t1").etag == (
        '"11086a986044cdaa2667b9ed53d91f0f"'
    )
    assert token_hash("tok-é") == (
        "7ed459ad1f869700d0ce4e0f5bbfefc5fe448be564507c6e46ccabceec33c2ff"
    )


def test_dump_names_and_cache_keys_keep_their_bytes(tmp_path: Path) -> None:
    assert _short_hash("Zé-日本") == "925edb"
    assert content_hash("é: 1\n".encode()) == (
        "ddbf0cd556eb5e5728a79ea4f68f2de46f7f5412b34920f6d68793640108eec2"
    )
    key = CacheKey(secret=b"k" * 32, path=Path("/k"))
    assert key.sign("entry-é", b"body") == (
        "22f6d336654aac1b3bbd49dcbdca36fff03438341e0b143b3eabbcfcde73b1c7"
    )
    assert fingerprint_of("1.2.3", b"{}", tmp_path / "none") == (
        "90bb3097feebdde13a2d5eb779229e3f8ebcc1a0f4b72fc72914f08966db5a73"
    )
    production = EnvironmentConfig("prod", vars={"url": "https://x.example", "note": "ü"})
    context = LoadContext((production, None), strict=True, project_file=False)
    assert context.fingerprint == LOAD_CONTEXT


LOAD_CONTEXT = "6501cfaa35c80e08969cbbe946c9dfd628499777e350809336e3aa555eea3b3f"


def test_the_digest_validate_prints_keeps_its_bytes(tmp_path: Path) -> None:
    folder = tmp_path / "connectors"
    folder.mkdir()
    (folder / "zé.yaml").write_text(CONNECTOR, encoding="utf-8")
    production = EnvironmentConfig("prod", vars={"url": "https://x.example", "note": "ü"})
    loaded = read_desired(folder, production)
    assert loaded.ok
    assert loaded.digest == LOADED


LOADED = "259b4c011cb657910a503d5cf22bb053178937d232655156211157fe127b0779"
CONNECTOR = """\
name: Zé
lifecycleStatus: ACTIVE
connectorType: CUSTOM
endpointUrl: ${var:url}/x
authentication:
  type: API_KEY
  credentials:
    apiKey: ${env:CRM_API_KEY}
mappings:
  - cxoneField: contact.external_id
    crmField: id
    direction: INBOUND
"""
