"""Property tests: generated valid connectors pass; one mutation breaking one rule is caught
by exactly that rule, at a real location in the file. Derandomized, so runs are repeatable."""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.load.catalog import (
    AUTH_CREDENTIALS,
    CXONE_FIELDS,
    IDENTITY_MAPPINGS,
    TRANSFORMATIONS,
)
from reconciler.load.desired import LoadResult, read_desired
from reconciler.secret import is_secret_field

Config = dict[str, Any]
PROPERTY_SETTINGS = settings(
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
HOSTS = {
    "SALESFORCE": "acme.my.salesforce.com",
    "DYNAMICS": "acme.crm.dynamics.com",
    "CUSTOM": "crm.acme.example",
}
WRITABLE = sorted(name for name, f in CXONE_FIELDS.items() if not f.read_only)
READ_ONLY = sorted(name for name, f in CXONE_FIELDS.items() if f.read_only)
ENV_NAME = st.from_regex(r"[A-Z][A-Z0-9_]{0,15}", fullmatch=True)
LABEL = st.from_regex(r"[a-z0-9]([a-z0-9_.-]{0,10}[a-z0-9])?", fullmatch=True)


def _fitting_transformations(field: str) -> list[str]:
    kind = CXONE_FIELDS[field].kind
    return sorted(n for n, t in TRANSFORMATIONS.items() if not t.applies_to or kind in t.applies_to)


@st.composite
def mapping_for(draw: st.DrawFn, field: str, crm: str) -> dict[str, str]:
    read_only = CXONE_FIELDS[field].read_only
    directions = ["OUTBOUND"] if read_only else ["INBOUND", "OUTBOUND", "BIDIRECTIONAL"]
    direction = draw(st.sampled_from(directions))
    item = {"cxoneField": field, "crmField": crm, "direction": direction}
    options = _fitting_transformations(field)
    if direction == "BIDIRECTIONAL" or draw(st.booleans()):
        item["transformation"] = draw(st.sampled_from(options))
    return item


@st.composite
def valid_connectors(draw: st.DrawFn) -> Config:
    kind = draw(st.sampled_from(sorted(HOSTS)))
    auth_type = draw(st.sampled_from(sorted(AUTH_CREDENTIALS)))
    credentials: dict[str, str] = {}
    for key in AUTH_CREDENTIALS[auth_type].required:
        if is_secret_field(key):
            credentials[key] = f"${{env:{draw(ENV_NAME)}}}"
        elif key == "tokenEndpoint":
            credentials[key] = f"https://{HOSTS[kind]}/oauth/token"
        else:
            credentials[key] = draw(st.from_regex(r"[a-z][a-z0-9.-]{0,12}", fullmatch=True))
    fields = draw(
        st.lists(st.sampled_from(WRITABLE + READ_ONLY), min_size=1, max_size=12, unique=True)
    )
    identity = IDENTITY_MAPPINGS[kind].crm_fields[0]
    mappings = [{"cxoneField": "contact.external_id", "crmField": identity, "direction": "INBOUND"}]
    for i, field in enumerate(f for f in fields if f != "contact.external_id"):
        mappings.append(draw(mapping_for(field, f"Field_{i}__c")))
    if len(mappings) < 2:
        mappings.append(
            {"cxoneField": "contact.email", "crmField": "Email", "direction": "OUTBOUND"}
        )
    config: Config = {
        "name": draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,30}", fullmatch=True)),
        "lifecycleStatus": draw(st.sampled_from(["DRAFT", "ACTIVE", "INACTIVE"])),
        "connectorType": kind,
        "endpointUrl": f"https://{HOSTS[kind]}/api/v{draw(st.integers(1, 99))}",
        "authentication": {"type": auth_type, "credentials": credentials},
        "mappings": draw(st.permutations(mappings)),
    }
    if draw(st.booleans()):
        config["description"] = draw(st.text(min_size=1, max_size=40))
    if draw(st.booleans()):
        config["syncSettings"] = {
            "batchSize": draw(st.integers(1, 10000)),
            "retryAttempts": draw(st.integers(0, 10)),
            "syncIntervalMinutes": draw(st.integers(1, 1440)),
        }
    if draw(st.booleans()):
        parts = draw(st.tuples(*[st.integers(0, 30)] * 3))
        config["version"] = ".".join(str(p) for p in parts)
    if draw(st.booleans()):
        config["labels"] = draw(st.dictionaries(LABEL, LABEL, max_size=4))
    return config


def _load(text: str, *, strict: bool = True) -> tuple[LoadResult, int]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "connector.yaml"
        path.write_text(text, encoding="utf-8")
        return read_desired(path, strict=strict), text.count("\n") + 1


def _dump(config: Config) -> str:
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


@PROPERTY_SETTINGS
@given(valid_connectors())
def test_generated_valid_connectors_pass_strict_validation(config: Config) -> None:
    result, _ = _load(_dump(config))
    assert result.diagnostics == ()
    [connector] = result.connectors
    api = connector.spec.to_api()
    for key in ("name", "connectorType", "endpointUrl", "authentication", "lifecycleStatus"):
        assert api[key] == config[key]
    assert api["mappings"] == config["mappings"]


def _pick(config: Config, index: int) -> dict[str, Any]:
    mappings: list[dict[str, Any]] = config["mappings"]
    return mappings[index % len(mappings)]


def _non_identity(config: Config, index: int) -> dict[str, Any]:
    identity = {f.lower() for f in IDENTITY_MAPPINGS[config["connectorType"]].crm_fields}
    mappings: list[dict[str, Any]] = config["mappings"]
    candidates = [m for m in mappings if m["crmField"].lower() not in identity]
    return candidates[index % len(candidates)]


def _duplicate_cxone(c: Config, i: int) -> None:
    mapping = _non_identity(c, i)
    mapping.update(cxoneField="contact.external_id", direction="INBOUND")
    mapping.pop("transformation", None)


def _duplicate_crm(c: Config, i: int) -> None:
    _non_identity(c, i)["crmField"] = IDENTITY_MAPPINGS[c["connectorType"]].crm_fields[0]


def _drop_identity(c: Config, i: int) -> None:
    identity = {f.lower() for f in IDENTITY_MAPPINGS[c["connectorType"]].crm_fields}
    c["mappings"] = [m for m in c["mappings"] if m["crmField"].lower() not in identity]


def _unknown_transformation(c: Config, i: int) -> None:
    _pick(c, i)["transformation"] = "frobnicate"


def _unknown_field(c: Config, i: int) -> None:
    _non_identity(c, i)["cxoneField"] = "contact.no_such_field"


def _literal_secret(c: Config, i: int) -> None:
    credentials = c["authentication"]["credentials"]
    key = next(k for k in credentials if is_secret_field(k))
    credentials[key] = "literal-value"


def _misplaced_env(c: Config, i: int) -> None:
    c["endpointUrl"] = "${env:CRM_URL}"


def _reserved_label(c: Config, i: int) -> None:
    c.setdefault("labels", {})["cxrecon.io/owner"] = "me"


def _bidirectional_bare(c: Config, i: int) -> None:
    used = {m["cxoneField"] for m in c["mappings"]}
    mapping = _non_identity(c, i)
    free = [f for f in WRITABLE if f not in used and CXONE_FIELDS[f].kind == "string"]
    mapping.update(cxoneField=free[i % len(free)], direction="BIDIRECTIONAL")
    mapping.pop("transformation", None)


SCHEMA_MUTATIONS: dict[str, Callable[[Config, int], None]] = {
    "drop-required": lambda c, i: c.pop(
        ["name", "lifecycleStatus", "connectorType", "endpointUrl", "authentication"][i % 5]
    ),
    "unknown-key": lambda c, i: c.__setitem__("extraKey", i),
    "bad-direction": lambda c, i: _pick(c, i).__setitem__("direction", "SIDEWAYS"),
    "ftp-endpoint": lambda c, i: c.__setitem__("endpointUrl", "ftp://crm.acme.example/x"),
    "spaced-endpoint": lambda c, i: c.__setitem__("endpointUrl", "https://crm .acme.example/x"),
    "batch-size": lambda c, i: c.__setitem__("syncSettings", {"batchSize": 10001 + i}),
    "bad-version": lambda c, i: c.__setitem__("version", f"v{i}"),
    "numeric-name": lambda c, i: c.__setitem__("name", i),
}
LINT_MUTATIONS: dict[str, tuple[Callable[[Config, int], None], str]] = {
    "duplicate-cxone": (_duplicate_cxone, "duplicate-cxone-field"),
    "duplicate-crm": (_duplicate_crm, "duplicate-crm-field"),
    "drop-identity": (_drop_identity, "missing-identity-mapping"),
    "unknown-transformation": (_unknown_transformation, "unknown-transformation"),
    "unknown-field": (_unknown_field, "unknown-cxone-field"),
    "literal-secret": (_literal_secret, "secret-literal"),
    "misplaced-env": (_misplaced_env, "secret-ref-misplaced"),
    "reserved-label": (_reserved_label, "reserved-label"),
    "bidirectional-bare": (_bidirectional_bare, "bidirectional-without-transformation"),
}
ALL_MUTATIONS = {
    **{name: (change, "schema") for name, change in SCHEMA_MUTATIONS.items()},
    **LINT_MUTATIONS,
}


@PROPERTY_SETTINGS
@given(valid_connectors(), st.sampled_from(sorted(ALL_MUTATIONS)), st.integers(0, 50))
def test_a_single_mutation_is_caught_by_its_rule(config: Config, name: str, index: int) -> None:
    change, rule = ALL_MUTATIONS[name]
    mutated = copy.deepcopy(config)
    change(mutated, index)
    result, lines = _load(_dump(mutated))
    assert not result.ok
    assert result.connectors == ()
    assert {d.rule for d in result.errors} == {rule}, [str(d) for d in result.errors]
    for diagnostic in result.errors:
        assert diagnostic.location is not None
        assert 1 <= diagnostic.location.line <= lines


@PROPERTY_SETTINGS
@given(valid_connectors(), st.integers(0, 10_000))
def test_a_duplicated_line_key_is_caught_where_it_is_written(config: Config, seed: int) -> None:
    text = _dump(config)
    lines = text.splitlines()
    top_keys = [i for i, line in enumerate(lines) if line and line[0].isalpha()]
    target = top_keys[seed % len(top_keys)]
    key = lines[target].split(":")[0]
    mutated = "\n".join([*lines, f"{key}: duplicate", ""])
    result, _ = _load(mutated)
    duplicates = [d for d in result.errors if d.rule == "yaml-duplicate-key"]
    assert len(duplicates) == 1
    assert duplicates[0].location is not None
    assert duplicates[0].location.line == len(lines) + 1
    assert f"first defined at line {target + 1}," in duplicates[0].message
