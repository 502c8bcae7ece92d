"""reconciler.hashing: each JSON form is the one an earlier writer used, and no other module
hashes on its own. (The fast spec writer is held to the general path's bytes on generated
specs in tests/plan/test_desired_digest.py; every persisted digest is pinned in
tests/test_hashing_golden.py.)"""

from __future__ import annotations

import ast
import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reconciler
from reconciler.hashing import (
    canonical_json,
    hmac_sha256,
    keyed_hmac,
    same_digest,
    sha256,
    sha256_b64,
    sha256_bytes,
    sha256_hex,
    sha256_prefixed,
    source_digest,
    urlsafe_b64,
)

TEXT = st.one_of(st.sampled_from(["", "é", "日本", "🎉", "\u2028", 'q"\\', "\x00\x1f"]), st.text())
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


def _encodable(value: Any) -> bool:
    # A lone surrogate has no UTF-8 form: canonical_json raises, as the writers it replaced did.
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_each_form_is_the_json_dumps_call_it_replaced(value: Any) -> None:
    if not _encodable(value):
        with pytest.raises(UnicodeEncodeError):
            canonical_json(value)
        return
    dumps = json.dumps
    compact = (",", ":")
    assert canonical_json(value) == (
        dumps(value, sort_keys=True, separators=compact, ensure_ascii=False).encode()
    )
    # idempotency keys, the emulator's request fingerprints
    assert canonical_json(value, ascii=True, lenient=True) == (
        dumps(value, sort_keys=True, separators=compact, default=str).encode()
    )
    # notification fingerprints and notified.json
    assert canonical_json(value, spaced=True, lenient=True) == (
        dumps(value, sort_keys=True, default=str, ensure_ascii=False).encode()
    )
    # the variables of the source digest
    assert canonical_json(value, ascii=True, spaced=True) == dumps(value, sort_keys=True).encode()


def test_only_the_lenient_form_writes_a_value_json_has_no_type_for() -> None:
    value = {"path": Path("/x"), "b": 1}
    with pytest.raises(TypeError):
        canonical_json(value)
    assert canonical_json(value, lenient=True) == b'{"b":1,"path":"/x"}'
    assert canonical_json(value, ascii=True, lenient=True) == b'{"b":1,"path":"/x"}'


def test_the_digest_forms_agree_with_hashlib() -> None:
    data = "Zé 🎉".encode()
    hexed = hashlib.sha256(data).hexdigest()
    assert sha256_hex(data) == hexed
    assert sha256_hex(data, 16) == hexed[:16]
    assert sha256_prefixed(data) == "sha256:" + hexed
    assert sha256_bytes(data) == hashlib.sha256(data).digest()
    assert sha256_b64(data, 3) == base64.urlsafe_b64encode(sha256_bytes(data)[:3]).decode()
    assert urlsafe_b64(b"\xff\xfe") == "__4"  # no padding
    hasher = sha256(b"a")
    hasher.update(b"b")
    assert hasher.hexdigest() == hashlib.sha256(b"ab").hexdigest()
    mac = hmac.new(b"key", b"message", hashlib.sha256)
    assert hmac_sha256(b"key", b"message") == mac.digest()
    copied = keyed_hmac(b"key").copy()
    copied.update(b"message")
    assert copied.hexdigest() == mac.hexdigest()
    assert same_digest("abc", "abc")
    assert not same_digest(b"abc", b"abd")


def test_the_source_digest_is_the_one_validate_printed() -> None:
    files = [("a.yaml", "name: é\n"), ("sub/b.yaml", "# only a comment\n")]
    variables = {"url": "https://é.example", "b": "1"}
    reference = hashlib.sha256()
    for name, text in files:
        reference.update(f"{name}\0{text}\0".encode())
    reference.update(b"\0vars\0" + json.dumps(variables, sort_keys=True).encode())
    assert source_digest(files, variables) == reference.hexdigest()
    assert source_digest(files, {}) != source_digest(files, variables)
    assert source_digest(files[:1], variables) != source_digest(files, variables)


def test_no_module_but_hashing_imports_hashlib_or_hmac() -> None:
    """Every hash goes through reconciler.hashing, so a persisted digest has one place whose
    bytes must not change (tests/test_hashing_golden.py pins them)."""
    package = Path(reconciler.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "hashing.py" and path.parent == package:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            if {"hashlib", "hmac", "_hashlib"} & {n.split(".")[0] for n in names}:
                found.append(f"{path.relative_to(package)}:{node.lineno}")
    assert found == []
