"""Day one for a team (issues 14 and 24), end to end through the CLI as the team would run it.

A tenant holds connectors an earlier cxrecon project manages (their fingerprints recorded
from files with literal client ids) and connectors made by hand in the CXone UI, one of them
with a name and fields in other scripts. The team runs `cxrecon init --from-tenant`, which
validates and plans as nothing but adoption; they commit, a colleague clones the repository
into a folder of another name (the identity is `project:`, not the folder), opens a pull
request (edit one connector, rename one with `previousNames`, add one), the reviewed plan is
applied on merge, someone edits a connector in the CXone UI, `cxrecon drift` catches it and
`--write-back` adopts it; the next plan is "No changes". Every step exits 0 or its
documented code.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Final

import httpx
import jsonschema
import pytest
from click.testing import CliRunner, Result

from reconciler.cli.main import cli
from reconciler.testing import RunningEmulator

SCHEMAS: Final = Path(__file__).parents[2] / "schemas"
PROJECT: Final = "crm-integrations"
#: Values only the team knows (CXone never returns them); none may appear in any output.
SF_SECRET: Final = "CANARY-team-day-sf-secret"
ZENDESK_KEY: Final = "CANARY-team-day-zendesk-key"
SF_CLIENT_ID: Final = "3MVG9-legacy-app"
SF_TOKEN_URL: Final = "https://login.salesforce.com/services/oauth2/token"
UNICODE_NAME: Final = "Kundendaten-Ünïcødé-日本"

_SALESFORCE: Final = f"""\
name: Salesforce-Contacts
description: Contacts from Salesforce
lifecycleStatus: ACTIVE
connectorType: SALESFORCE
endpointUrl: https://acme.my.salesforce.com/services/data/v60.0
authentication:
  type: OAUTH2
  credentials:
    tokenEndpoint: {SF_TOKEN_URL}
    clientId: {SF_CLIENT_ID}
    clientSecret: ${{env:LEGACY_SF_SECRET}}
mappings:
  - cxoneField: contact.external_id
    crmField: Id
    direction: INBOUND
    transformation: salesforce_id18
  - cxoneField: contact.email
    crmField: Email
    direction: BIDIRECTIONAL
    transformation: email_normalize
labels:
  team: crm
"""
_ZENDESK: Final = """\
name: Zendesk-Tickets
lifecycleStatus: ACTIVE
connectorType: CUSTOM
endpointUrl: https://acme.zendesk.example/api/v2
authentication:
  type: API_KEY
  credentials:
    apiKey: ${env:LEGACY_ZENDESK_KEY}
    headerName: X-Api-Key
mappings:
  - cxoneField: contact.external_id
    crmField: id
    direction: INBOUND
  - cxoneField: contact.phone
    crmField: phone
    direction: INBOUND
    transformation: e164
syncSettings:
  batchSize: 1000
"""
#: Made by hand in the CXone UI: never managed by cxrecon.
_BY_HAND: Final[tuple[dict[str, Any], ...]] = (
    {
        "name": "HubSpot-Lead-Import",
        "lifecycleStatus": "ACTIVE",
        "connectorType": "CUSTOM",
        "endpointUrl": "https://api.hubapi.example/crm/v3",
        "authentication": {"type": "API_KEY", "credentials": {"apiKey": "hub-key"}},
        "mappings": [
            {"cxoneField": "contact.external_id", "crmField": "id", "direction": "INBOUND"},
            {
                "cxoneField": "contact.email",
                "crmField": "email",
                "direction": "BIDIRECTIONAL",
                "transformation": "email_normalize",
            },
        ],
        "version": "2.1.0",
    },
    {
        "name": "Dynamics-Accounts",
        "description": "Accounts from Dynamics 365",
        "lifecycleStatus": "ACTIVE",
        "connectorType": "DYNAMICS",
        "endpointUrl": "https://acme.crm.dynamics.com/api/data/v9.2",
        "authentication": {
            "type": "OAUTH2",
            "credentials": {
                "tokenEndpoint": "https://login.microsoftonline.com/acme/oauth2/token",
                "clientId": "dyn-app",
                "clientSecret": "dyn-secret",
            },
        },
        "mappings": [
            {
                "cxoneField": "contact.external_id",
                "crmField": "contactid",
                "direction": "INBOUND",
                "transformation": "guid",
            }
        ],
        "syncSettings": {"syncIntervalMinutes": 60},
        "labels": {"team": "sales-ops"},
    },
    {
        # Made in a German tenant's UI: CXone takes the name and fields as they are; there is
        # no `id` mapping (a lint warning, not an error).
        "name": UNICODE_NAME,
        "lifecycleStatus": "ACTIVE",
        "connectorType": "CUSTOM",
        "endpointUrl": "https://crm.acme.example/api",
        "authentication": {"type": "API_KEY", "credentials": {"apiKey": "kunden-key"}},
        "mappings": [
            {
                "cxoneField": "contact.custom.préférence",
                "crmField": "crm_feld_00_ß",
                "direction": "INBOUND",
            }
        ],
    },
    {
        "name": "Legacy-Helpdesk",
        "lifecycleStatus": "INACTIVE",
        "connectorType": "CUSTOM",
        "endpointUrl": "https://helpdesk.acme.example/api",
        "authentication": {
            "type": "BASIC",
            "credentials": {"username": "cxone", "password": "helpdesk-password"},
        },
        "mappings": [
            {"cxoneField": "contact.external_id", "crmField": "id", "direction": "INBOUND"}
        ],
    },
)
_NEW: Final = """\
# yaml-language-server: $schema=../schemas/connector.schema.json
name: Support-Desk
lifecycleStatus: ACTIVE
connectorType: CUSTOM
endpointUrl: https://support.acme.example/api
authentication:
  type: API_KEY
  credentials:
    apiKey: ${env:SUPPORT_DESK_API_KEY}
mappings:
  - cxoneField: contact.external_id
    crmField: id
    direction: INBOUND
  - cxoneField: contact.email
    crmField: email
    direction: BIDIRECTIONAL
    transformation: email_normalize
"""


def base_env(emulator: RunningEmulator) -> dict[str, str]:
    return {
        "CXONE_BASE_URL": emulator.base_url,
        "CXONE_CLIENT_ID": "demo-client",
        "CXONE_CLIENT_SECRET": "demo-secret",
        "NO_COLOR": "1",
        "GITHUB_STEP_SUMMARY": "",
        "GITHUB_ACTIONS": "",
    }


def cx(env: dict[str, str], *args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), env=env)
    for canary in (SF_SECRET, ZENDESK_KEY):
        assert canary not in result.output, args
    return result


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Team", "-c", "user.email=team@acme.example", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def remote_ids(emulator: RunningEmulator) -> dict[str, str]:
    response = httpx.get(
        emulator.base_url + "/crm/connectors",
        params={"top": 100},
        headers=emulator.control.auth_headers(),
    )
    response.raise_for_status()
    return {item["name"]: item["id"] for item in response.json()["items"]}


@pytest.fixture
def tenant(emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two connectors an earlier cxrecon project applied, three made by hand."""
    legacy = tmp_path / "legacy"
    (legacy / "connectors").mkdir(parents=True)
    (legacy / "cxrecon.yaml").write_text(f"project: {PROJECT}\n", encoding="utf-8")
    (legacy / "connectors" / "salesforce.yaml").write_text(_SALESFORCE, encoding="utf-8")
    (legacy / "connectors" / "zendesk.yaml").write_text(_ZENDESK, encoding="utf-8")
    monkeypatch.chdir(legacy)
    env = {
        **base_env(emulator),
        "LEGACY_SF_SECRET": SF_SECRET,
        "LEGACY_ZENDESK_KEY": ZENDESK_KEY,
    }
    applied = cx(env, "apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    for body in _BY_HAND:
        emulator.control.seed(body)


def test_a_team_adopts_its_tenant_and_changes_it_through_git(
    emulator: RunningEmulator,
    tenant: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    monkeypatch.chdir(workspace)
    env = base_env(emulator)

    # 1. init --from-tenant: every secret (writeOnly: CXone masks it) becomes an ${env:}
    # reference, listed once in .env.example; every other credential is written as CXone
    # returns it. The unicode name gets a safe, stable file name.
    made = cx(env, "init", "crm-connectors", "--project", PROJECT, "--from-tenant")
    assert made.exit_code == 0, made.output
    repo = workspace / "crm-connectors"
    files = sorted(p.name for p in (repo / "connectors").glob("*.yaml"))
    [unicode_file] = [f for f in files if f.startswith("kundendaten-unicode-")]
    assert files == sorted(
        [
            "dynamics-accounts.yaml",
            "hubspot-lead-import.yaml",
            "legacy-helpdesk.yaml",
            "salesforce-contacts.yaml",
            "zendesk-tickets.yaml",
            unicode_file,
        ]
    )
    assert unicode_file.isascii()
    example = (repo / ".env.example").read_text()
    names = [line[:-1] for line in example.splitlines() if line.endswith("=")]
    for name in ("SALESFORCE_CONTACTS_CLIENT_SECRET", "KUNDENDATEN_UNICODE_API_KEY"):
        assert name in names
    for name in ("_TOKEN_ENDPOINT", "_CLIENT_ID", "_HEADER_NAME"):
        assert not [n for n in names if n.endswith(name) and n != "CXONE_CLIENT_ID"]
    assert f"project: {PROJECT}" in (repo / "cxrecon.yaml").read_text()
    salesforce = repo / "connectors" / "salesforce-contacts.yaml"
    assert f"clientId: {SF_CLIENT_ID}" in salesforce.read_text()
    assert UNICODE_NAME in (repo / "connectors" / unicode_file).read_text(encoding="utf-8")

    # 2. It validates (the unicode connector with a warning only) and plans as adoption only.
    monkeypatch.chdir(repo)
    validated = cx(env, "validate", "--format", "json")
    assert validated.exit_code == 0, validated.output
    findings = [(d["severity"], d["rule"]) for d in json.loads(validated.stdout)["diagnostics"]]
    assert findings == [("warning", "missing-identity-mapping")]
    _assert_adoption_only(cx(env, "plan", "--format", "json"))
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "cxrecon init --from-tenant")

    # 3. A colleague clones it into a folder of another name: same identity, same plan.
    clone = tmp_path / "colleague" / "checkout-8f1c2d"
    clone.parent.mkdir()
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    monkeypatch.chdir(clone)
    _assert_adoption_only(cx(env, "plan", "--format", "json"))

    # 4. The pull request: edit one, rename one, add one.
    zendesk = clone / "connectors" / "zendesk-tickets.yaml"
    zendesk.write_text(zendesk.read_text().replace("batchSize: 1000", "batchSize: 250"))
    salesforce = clone / "connectors" / "salesforce-contacts.yaml"
    renamed = salesforce.read_text().replace(
        "name: Salesforce-Contacts\n",
        "name: Salesforce-Contacts-EU\npreviousNames: [Salesforce-Contacts]\n",
    )
    salesforce.unlink()
    (clone / "connectors" / "salesforce-contacts-eu.yaml").write_text(renamed)
    (clone / "connectors" / "support-desk.yaml").write_text(_NEW)
    assert cx(env, "validate").exit_code == 0

    # 5. What the reviewer sees (the pull-request plan).
    review = cx(env, "plan")
    assert review.exit_code == 0, review.output
    shown = review.stdout
    assert shown.startswith("Plan: 1 to create, 1 to rename, 4 to adopt, 1 to update, 0 unchanged.")
    assert "~ rename Salesforce-Contacts-EU (from Salesforce-Contacts)" in shown
    assert '    ~ name: "Salesforce-Contacts" → "Salesforce-Contacts-EU"  (pending)' in shown
    assert "~ update Zendesk-Tickets" in shown
    assert "    ~ syncSettings.batchSize: 1000 → 250  (pending)" in shown
    assert "+ create Support-Desk (DRAFT → ACTIVE)" in shown
    assert f"& adopt {UNICODE_NAME}" in shown
    create = shown.split("+ create Support-Desk (DRAFT → ACTIVE)\n")[1].split("\n\n")[0]
    assert create.splitlines() == [
        '    + connectorType: "CUSTOM"',
        '    + endpointUrl: "https://support.acme.example/api"',
        '    + lifecycleStatus: "ACTIVE"',
        '    + version: "1.0.0"',
        "    + syncSettings.batchSize: 500",
        "    + syncSettings.retryAttempts: 3",
        "    + syncSettings.syncIntervalMinutes: 15",
        '    + mappings[contact.email].crmField: "email"',
        '    + mappings[contact.email].direction: "BIDIRECTIONAL"',
        '    + mappings[contact.email].transformation: "email_normalize"',
        '    + mappings[contact.external_id].crmField: "id"',
        '    + mappings[contact.external_id].direction: "INBOUND"',
        '    + authentication.type: "API_KEY"',
        '    + authentication.credentials[apiKey]: "***"  (from ${env:SUPPORT_DESK_API_KEY})',
    ]
    # Adopting writes the credentials: the plan names the variables that needs.
    assert "written from apiKey ${env:HUBSPOT_LEAD_IMPORT_API_KEY}" in shown
    assert "needs `SUPPORT_DESK_API_KEY`" in shown
    comment = cx(env, "plan", "--format", "markdown")
    assert comment.exit_code == 0, comment.output
    assert "<details><summary>+ create Support-Desk (DRAFT → ACTIVE) — 14 field(s)" in (
        comment.stdout
    )
    assert (
        '| <code>authentication.credentials[apiKey]</code> | <code>"***"</code> from '
        "<code>${env:SUPPORT_DESK_API_KEY}</code> |"
    ) in comment.stdout
    as_json = json.loads(cx(env, "plan", "--format", "json").stdout)
    jsonschema.validate(as_json, json.loads((SCHEMAS / "plan.schema.json").read_text()))
    [new] = [c for c in as_json["changes"] if c["action"] == "create"]
    assert len(new["fields"]) == 14
    (api_key,) = [f for f in new["fields"] if f["path"] == "authentication.credentials[apiKey]"]
    assert (api_key["after"], api_key["source"]) == ("***", "${env:SUPPORT_DESK_API_KEY}")
    saved = cx(env, "plan", "--out", "plan.json")
    assert saved.exit_code == 0, saved.output
    git(clone, "add", "connectors")
    git(clone, "commit", "-q", "-m", "Rename Salesforce, smaller Zendesk batches, Support-Desk")

    # 6. Merged: the reviewed plan is applied with the values the team keeps in CI secrets,
    # as apply-environment.yml runs it (the reviewed plan is the plan of record).
    known = {
        "SALESFORCE_CONTACTS_CLIENT_SECRET": SF_SECRET,
        "ZENDESK_TICKETS_API_KEY": ZENDESK_KEY,
    }
    values = {name: known.get(name, f"value-of-{name.lower()}") for name in names}
    values.pop("CXONE_CLIENT_SECRET", None)
    values["SUPPORT_DESK_API_KEY"] = "support-desk-key"
    secrets = {**env, **values}
    applied = cx(
        secrets, "apply", "--plan", "plan.json", "--if-stale", "reviewed", "--auto-approve"
    )
    assert applied.exit_code == 0, applied.output
    assert "stale" not in applied.output
    after = cx(secrets, "plan", "--detailed-exitcode")
    assert after.exit_code == 0, after.output
    assert after.stdout.startswith("No changes. Plan: 7 unchanged.")
    ids = remote_ids(emulator)
    assert "Salesforce-Contacts-EU" in ids
    assert "Salesforce-Contacts" not in ids
    assert len(ids) == 7

    # 7. Someone edits the unicode connector in the CXone UI: drift names it and the field.
    emulator.control.edit(ids[UNICODE_NAME], {"syncSettings": {"batchSize": 50}})
    drift = cx(secrets, "drift")
    assert drift.exit_code == 2, drift.output
    assert UNICODE_NAME in drift.stdout
    assert "syncSettings.batchSize" in drift.stdout

    # 8. The team adopts the edit into git: one line changes, then nothing is left to do.
    unicode_path = clone / "connectors" / unicode_file
    before = unicode_path.read_text(encoding="utf-8")
    written = cx(secrets, "drift", "--write-back")
    assert written.exit_code == 0, written.output
    after_text = unicode_path.read_text(encoding="utf-8")
    assert before != after_text
    assert "batchSize: 50" in after_text
    assert cx(secrets, "validate").exit_code == 0
    settled = cx(secrets, "plan", "--detailed-exitcode")
    assert settled.exit_code == 0, settled.output
    assert settled.stdout.startswith("No changes. Plan: 7 unchanged.")
    assert cx(secrets, "drift").exit_code == 0


def _assert_adoption_only(result: Result) -> None:
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert not document["hasErrors"]
    assert document["summary"]["adopt"] == 4
    # The connectors an earlier project manages: the dump names their secrets anew
    # (SALESFORCE_CONTACTS_CLIENT_SECRET for ${env:LEGACY_SF_SECRET}), and the fingerprint
    # label records which references the credentials came from, so the plan says the merge
    # writes them from the new variables (the only way to know CXone holds what they hold).
    # Nothing else of theirs changes.
    assert document["summary"]["update"] == 2
    for change in document["changes"]:
        assert change["fields"] == [], change["name"]
        if change["name"] in ("Salesforce-Contacts", "Zendesk-Tickets"):
            assert change["action"] == "update", change["name"]
            assert change["credentials"] == {
                "status": "rotated",
                "reason": "a secret reference changed",
            }
        else:
            assert change["action"] == "adopt", change["name"]
            assert change["credentials"]["status"] == "unknown"
