"""Whatever CXone holds, cxrecon can manage (issue 24): connectors made through the API as a
UI would make them (any name the API takes, fields of any script, URLs and credentials the
API takes) are dumped, validate, and plan as nothing but adoption.

Hypothesis draws a tenant; every connector is POSTed to the emulator (201 required: the
API is the judge of what is valid) and some are moved out of DRAFT with a PATCH. Then, as a
team would: `cxrecon dump`, `cxrecon validate` (exit 0; warnings allowed), `cxrecon plan
--format json` (every connector `adopt` with no field changes, no errors).
"""

from __future__ import annotations

import json
import shutil
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cli.main import cli
from reconciler.testing import RunningEmulator, api_client, start_emulator

from .conftest import COMMON

ROUNDTRIP: Final = settings(
    COMMON, max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
SECRET_KEYS: Final = frozenset({"password", "clientSecret", "apiKey"})
CREDENTIALS: Final = {
    "BASIC": ("username", "password"),
    "OAUTH2": ("tokenEndpoint", "clientId", "clientSecret", "scope", "audience"),
    "API_KEY": ("apiKey", "headerName"),
}

#: Text as someone types it into a UI: letters of several scripts, digits, punctuation, the
#: characters of `${…}` references (dump must write them so they stay literal) and spaces.
UI_CHARACTERS: Final = st.one_of(
    st.sampled_from(list(string.ascii_letters + string.digits + " -_.:/#'\"$%{}[]*&!|>@,")),
    st.sampled_from(list("ÄÖÜäöüßÉéèçñØøÅåłŁ日本語中文한국어ăşЖжΩπ€✓")),
    st.characters(min_codepoint=0xA0, max_codepoint=0x2FFF, exclude_categories=("Cc", "Cs")),
)


def ui_text(min_size: int = 1, max_size: int = 24) -> st.SearchStrategy[str]:
    return st.text(UI_CHARACTERS, min_size=min_size, max_size=max_size)


HOSTS: Final = st.sampled_from(
    ["crm.acme.example", "acme.my.salesforce.com", "acme.crm4.dynamics.com", "10.0.0.7", "a"]
)
PATHS: Final = st.text(
    st.sampled_from(list(string.ascii_letters + string.digits + "/-._~%!$&'()*+,;:é日")),
    max_size=20,
)
URLS: Final = st.builds(
    lambda scheme, host, port, path: f"{scheme}://{host}{port}/{path}",
    st.sampled_from(["https", "http"]),
    HOSTS,
    st.sampled_from(["", ":443", ":8443", ":0", ":65535"]),
    PATHS,
)
LABEL_KEYS: Final = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._/-]{0,12}[A-Za-z0-9])?", fullmatch=True)


@st.composite
def mappings(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(0, 4))
    cxone = draw(st.lists(ui_text(max_size=30), min_size=count, max_size=count, unique=True))
    crm = draw(st.lists(ui_text(max_size=30), min_size=count, max_size=count, unique=True))
    out = []
    for one, other in zip(cxone, crm, strict=True):
        mapping: dict[str, Any] = {
            "cxoneField": draw(st.one_of(st.just(one), st.just(f"contact.custom.{one}"))),
            "crmField": other,
            "direction": draw(st.sampled_from(["INBOUND", "OUTBOUND", "BIDIRECTIONAL"])),
        }
        if draw(st.booleans()):
            mapping["transformation"] = draw(
                st.one_of(st.sampled_from(["trim", "e164"]), ui_text())
            )
        out.append(mapping)
    return out


@st.composite
def connectors(draw: st.DrawFn, name: str) -> dict[str, Any]:
    auth_type = draw(st.sampled_from(sorted(CREDENTIALS)))
    keys = draw(st.lists(st.sampled_from(CREDENTIALS[auth_type]), unique=True))
    doc: dict[str, Any] = {
        "name": name,
        "connectorType": draw(st.sampled_from(["CUSTOM", "SALESFORCE", "DYNAMICS"])),
        "endpointUrl": draw(URLS),
        "authentication": {
            "type": auth_type,
            "credentials": {key: draw(ui_text(max_size=40)) for key in keys},
        },
        "mappings": draw(mappings()),
    }
    if draw(st.booleans()):
        doc["description"] = draw(ui_text(max_size=60))
    if draw(st.booleans()):
        doc["version"] = draw(st.from_regex(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}", fullmatch=True))
    if draw(st.booleans()):
        key = draw(st.sampled_from(["batchSize", "retryAttempts", "syncIntervalMinutes"]))
        low, high = {"batchSize": (1, 10_000), "retryAttempts": (0, 10)}.get(key, (1, 1440))
        doc["syncSettings"] = {key: draw(st.integers(low, high))}
    if draw(st.booleans()):
        labels = draw(st.dictionaries(LABEL_KEYS, ui_text(min_size=0), max_size=3))
        doc["labels"] = {
            k: v for k, v in labels.items() if not k.startswith("cxrecon.io") and k != "managed-by"
        }
    return doc


@st.composite
def tenants(draw: st.DrawFn) -> list[tuple[dict[str, Any], str]]:
    """Connectors with distinct names, each with the state it is moved to after create."""
    names = draw(st.lists(ui_text(max_size=40), min_size=1, max_size=4, unique=True))
    return [
        (draw(connectors(name)), draw(st.sampled_from(["DRAFT", "ACTIVE", "INACTIVE"])))
        for name in names
    ]


@pytest.fixture(scope="module")
def tenant_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    emulator = start_emulator(tmp_path_factory.mktemp("roundtrip") / "emulator.sqlite")
    try:
        yield emulator
    finally:
        emulator.stop()


def _create(emulator: RunningEmulator, doc: dict[str, Any], state: str) -> None:
    with api_client(emulator) as client:
        created = client.post("/crm/connectors", json=doc)
        assert created.status_code == 201, (doc, created.text)
        if state != "DRAFT":
            moved = client.patch(
                f"/crm/connectors/{created.json()['id']}",
                json={"lifecycleStatus": state},
                headers={"If-Match": created.headers["ETag"]},
            )
            assert moved.status_code == 200, moved.text


def _cx(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@ROUNDTRIP
@given(tenant=tenants())
def test_what_the_api_takes_is_dumped_validated_and_planned_as_no_change(
    tenant: list[tuple[dict[str, Any], str]],
    tenant_emulator: RunningEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    round_trip(tenant, tenant_emulator, tmp_path, monkeypatch)


def round_trip(
    tenant: list[tuple[dict[str, Any], str]],
    tenant_emulator: RunningEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant_emulator.control.reset()
    for doc, state in tenant:
        _create(tenant_emulator, doc, state)
    project = tmp_path / "project"
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir()
    (project / "cxrecon.yaml").write_text("project: roundtrip\n", encoding="utf-8")
    monkeypatch.chdir(project)
    env = {
        "CXONE_BASE_URL": tenant_emulator.base_url,
        "CXONE_CLIENT_ID": "demo-client",
        "CXONE_CLIENT_SECRET": "demo-secret",
        "NO_COLOR": "1",
        "GITHUB_ACTIONS": "",
        "GITHUB_STEP_SUMMARY": "",
    }

    dumped = _cx(env, "dump", "--out", "connectors")
    assert dumped.exit_code == 0, dumped.output
    assert "fix them in the files" not in dumped.stdout  # only warnings, never errors
    files = [p for p in (project / "connectors").glob("*.yaml")]
    assert len(files) == len(tenant)
    assert all(p.name.isascii() for p in files)

    validated = _cx(env, "validate", "--format", "json")
    report = json.loads(validated.stdout)
    errors = [d for d in report["diagnostics"] if d["severity"] == "error"]
    assert (validated.exit_code, errors) == (0, []), validated.output

    planned = _cx(env, "plan", "--format", "json")
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.stdout)
    assert not plan["hasErrors"]
    assert sorted(c["name"] for c in plan["changes"]) == sorted(doc["name"] for doc, _ in tenant)
    for change in plan["changes"]:
        assert (change["action"], change["fields"]) == ("adopt", []), change


def test_the_connectors_of_the_issue_round_trip(
    tenant_emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example the issue reports: 31 findings after a dump that exited 0."""
    doc = {
        "name": "Kundendaten-Ünïcødé-日本",
        "connectorType": "CUSTOM",
        "endpointUrl": "https://crm.acme.example/api",
        "authentication": {"type": "API_KEY", "credentials": {"apiKey": "k"}},
        "mappings": [
            {
                "cxoneField": "contact.custom.préférence",
                "crmField": "crm_feld_00_ß",
                "direction": "INBOUND",
            }
        ],
    }
    round_trip([(doc, "ACTIVE")], tenant_emulator, tmp_path, monkeypatch)


def test_a_post_the_api_refuses_is_not_drawn(tenant_emulator: RunningEmulator) -> None:
    """The strategy's bounds are the API's: a control character is refused (400)."""
    with api_client(tenant_emulator) as client:
        response: httpx.Response = client.post(
            "/crm/connectors",
            json={
                "name": "Two\nLines",
                "connectorType": "CUSTOM",
                "endpointUrl": "https://crm.acme.example/api",
                "authentication": {"type": "API_KEY", "credentials": {}},
            },
        )
    assert response.status_code == 400
