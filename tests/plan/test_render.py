from __future__ import annotations

import dataclasses
import io
import json
import re
from pathlib import Path

import jsonschema
import pytest

from reconciler.model import Authentication, FieldMapping
from reconciler.plan.changes import Plan
from reconciler.plan.saved import write
from reconciler.render import json_format, markdown, text

from .helpers import CANARY, applied, edit_remote, make_plan, spec, unmanaged

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "schemas" / "plan.schema.json").read_text(encoding="utf-8")
)


def busy_plan() -> Plan:
    """Every action at once, with a rotated canary secret in the environment."""
    keyed = Authentication(
        type="API_KEY", credentials={"apiKey": "${env:SF_SECRET}", "account": "acme"}
    )
    return make_plan(
        [
            spec("new-one"),
            spec("adopt-me", version="2.0.0"),
            spec("upd", mappings=(FieldMapping("contact.email", "Mail", "INBOUND"),)),
            spec("keys", authentication=keyed),
            spec("back-to-draft", lifecycle_status="DRAFT"),
            spec("same"),
        ],
        [
            unmanaged(spec("adopt-me"), cid="a"),
            edit_remote(applied(spec("upd"), cid="u"), description="edited in CXone"),
            applied(spec("keys"), cid="k", environ={"SF_SECRET": "old-" + CANARY}),
            applied(spec("back-to-draft"), cid="d"),
            applied(spec("same"), cid="s"),
            applied(spec("gone"), cid="g"),
        ],
        prune=True,
    )


def all_outputs(plan: Plan, tmp_path: Path) -> dict[str, str]:
    saved = tmp_path / "plan.json"
    write(plan, saved)
    return {
        "text": text.render(plan),
        "text-color": text.TextRenderer(color=True, show_unchanged=True).render(plan),
        "json": json_format.render(plan),
        "markdown": markdown.render(plan),
        "saved": saved.read_text(encoding="utf-8"),
    }


def test_canary_secret_is_absent_from_every_format(tmp_path: Path) -> None:
    plan = busy_plan()
    outputs = all_outputs(plan, tmp_path)
    for name, output in outputs.items():
        assert CANARY not in output, name
        assert "old-" + CANARY not in output, name
    assert "rotated" in outputs["text"]  # the keys connector's rotation is visible


def test_plan_json_is_valid_against_the_published_schema() -> None:
    document = json.loads(json_format.render(busy_plan()))
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(document, SCHEMA)
    assert document["formatVersion"] == 1
    assert document["summary"]["create"] == 1
    assert document["summary"]["error"] == 1
    upd = next(c for c in document["changes"] if c["name"] == "upd")
    paths = {f["path"]: f for f in upd["fields"]}
    assert paths["description"]["origin"] == "drift"
    crm = paths["mappings[contact.email].crmField"]
    assert (crm["before"], crm["after"], crm["origin"]) == ("Email", "Mail", "pending")
    assert paths["mappings[contact.phone]"]["kind"] == "removed"
    keys = next(c for c in document["changes"] if c["name"] == "keys")
    assert keys["credentials"] == {"status": "rotated", "reason": "fingerprint differs"}
    added = next(f for f in keys["fields"] if f["path"] == "authentication.credentials[apiKey]")
    assert (added["kind"], added["after"], added["secret"]) == ("added", "***", True)


def test_schema_rejects_a_document_missing_its_summary() -> None:
    document = json.loads(json_format.render(busy_plan()))
    del document["summary"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SCHEMA)


def test_text_starts_with_the_summary_and_lists_each_action() -> None:
    output = text.render(busy_plan())
    first = output.splitlines()[0]
    assert first.startswith("Plan: 1 in error, 1 to create, 1 to adopt")
    assert "! error back-to-draft" in output
    assert '~ mappings[contact.email].crmField: "Email" → "Mail"' in output
    assert "v deactivate gone (ACTIVE → INACTIVE) [orphaned: not in git]" in output
    assert "Safety gate: OVER" in output
    assert "\x1b[" not in output


def test_no_changes_reads_as_such() -> None:
    output = text.render(make_plan([spec()], [applied(spec())]))
    assert output.startswith("No changes. Plan: 1 unchanged.")


def test_color_follows_tty_no_color_and_force_color() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert text.use_color(Tty(), {}) is True
    assert text.use_color(Tty(), {"NO_COLOR": "1"}) is False
    assert text.use_color(io.StringIO(), {}) is False
    assert text.use_color(io.StringIO(), {"FORCE_COLOR": "1"}) is True


def test_secret_paths_are_masked_even_if_a_value_slipped_into_the_diff() -> None:
    from reconciler.plan.diff import ChangeKind, FieldChange, safe_values

    leaked = FieldChange(
        path="authentication.credentials[apiKey]",
        parts=("authentication", "credentials", "apiKey"),
        kind=ChangeKind.CHANGED,
        before=CANARY,
        after=CANARY,
    )
    assert safe_values(leaked) == ("***", "***")


def _well_formed(md: str) -> None:
    assert md.count("<details>") == md.count("</details>")
    assert md.count("<summary>") == md.count("</summary>")
    assert md.count("<code>") == md.count("</code>")
    for line in md.splitlines():
        if line.startswith("|"):
            assert line.rstrip().endswith("|"), line


def huge_plan(count: int = 1500) -> Plan:
    mappings = tuple(
        FieldMapping(f"contact.f{i}", f"F{i}" * 30, "INBOUND", "t" * 50) for i in range(20)
    )
    template = applied(spec("template"))  # one fingerprint, reused: the KDF is slow on purpose
    remote = [
        dataclasses.replace(
            template, id=str(i), spec=dataclasses.replace(template.spec, name=f"c{i:04d}")
        )
        for i in range(count)
    ]
    want = [spec(f"c{i:04d}", mappings=mappings) for i in range(count)]
    return make_plan(want, remote, environ=None)


def test_markdown_budget_keeps_a_huge_plan_short_and_well_formed() -> None:
    plan = huge_plan()
    md = markdown.render(plan)
    assert len(md) <= markdown.DEFAULT_BUDGET
    _well_formed(md)
    assert "| ~ update | 1500 |" in md  # the summary table survives
    assert re.search(r"\d+ connector section\(s\) left out", md)


def test_markdown_fits_small_plans_whole() -> None:
    md = markdown.render(busy_plan())
    _well_formed(md)
    assert "left out" not in md
    assert md.index("| Action | Count |") < md.index("<details>")
    assert "<details><summary>! error back-to-draft" in md


def test_markdown_drops_orphans_before_values() -> None:
    plan = busy_plan()
    full = markdown.render(plan)
    tight = markdown.MarkdownRenderer(budget=len(full) - 1).render(plan)
    # The create's long values (its endpointUrl) are shortened before anything is left out.
    assert "values shortened to 40 characters" in tight or "left out" in tight
    assert len(tight) < len(full)
    _well_formed(tight)


def test_markdown_cells_escape_html_and_pipes() -> None:
    plan = make_plan([spec(description="<script>|x")], [applied(spec())])
    md = markdown.render(plan)
    assert "<script>" not in md
    assert "&lt;script&gt;\\|x" in md


def test_job_summary_is_appended_when_github_asks(tmp_path: Path) -> None:
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n", encoding="utf-8")
    plan = busy_plan()
    assert markdown.write_job_summary(plan, {"GITHUB_STEP_SUMMARY": str(target)}) == target
    content = target.read_text(encoding="utf-8")
    assert content.startswith("earlier step\n")
    assert "| Action | Count |" in content
    assert markdown.write_job_summary(plan, {}) is None


# --- a create shows every field it sets (issue 14) ----------------------------------------

#: What `spec("new-one")` sets, as plan paths and values (syncSettings defaults filled in).
CREATED = {
    "description": "Contacts from Salesforce",
    "connectorType": "SALESFORCE",
    "endpointUrl": "https://acme.my.salesforce.com/services/data/v60.0",
    "lifecycleStatus": "ACTIVE",
    "version": "1.0.0",
    "syncSettings.batchSize": 200,
    "syncSettings.retryAttempts": 3,
    "syncSettings.syncIntervalMinutes": 15,
    "mappings[contact.email].crmField": "Email",
    "mappings[contact.email].direction": "BIDIRECTIONAL",
    "mappings[contact.email].transformation": "email_normalize",
    "mappings[contact.first_name].crmField": "FirstName",
    "mappings[contact.first_name].direction": "INBOUND",
    "mappings[contact.phone].crmField": "Phone",
    "mappings[contact.phone].direction": "INBOUND",
    "mappings[contact.phone].transformation": "e164",
    "authentication.type": "OAUTH2",
    "authentication.credentials[clientId]": "app-1",
    "authentication.credentials[clientSecret]": "***",
    "labels[team]": "crm",
}


def create_plan() -> Plan:
    creds = {
        "tokenEndpoint": "https://login.acme.example/token",
        "clientId": "${env:SF_CLIENT_ID}",
        "clientSecret": "${file:.secrets/sf-secret}",
    }
    new = spec("new-one", authentication=Authentication(type="OAUTH2", credentials=creds))
    return make_plan([new], [])


def test_a_create_shows_every_field_it_sets_in_json() -> None:
    document = json.loads(json_format.render(busy_plan()))
    jsonschema.validate(document, SCHEMA)
    [create] = [c for c in document["changes"] if c["action"] == "create"]
    fields = {f["path"]: f for f in create["fields"]}
    assert {p: f["after"] for p, f in fields.items()} == CREATED
    for path, field in fields.items():
        assert (field["kind"], field["before"], field["origin"]) == ("added", None, None), path
        # Only what the connector schema marks writeOnly is secret (clientSecret here).
        assert field["secret"] is (path == "authentication.credentials[clientSecret]"), path
    assert list(fields) == list(CREATED)  # the order of the connector file's sections


def test_a_create_shows_every_field_in_text_with_where_credentials_come_from() -> None:
    output = text.render(create_plan())
    assert "mappings: 3" not in output
    lines = output.splitlines()
    start = lines.index("+ create new-one (DRAFT → ACTIVE)")
    body = lines[start + 1 :]
    assert '    + description: "Contacts from Salesforce"' in body
    assert "    + syncSettings.batchSize: 200" in body
    assert '    + mappings[contact.phone].transformation: "e164"' in body
    assert '    + labels[team]: "crm"' in body
    assert '    + authentication.credentials[clientId]: "***"  (from ${env:SF_CLIENT_ID})' in body
    assert (
        '    + authentication.credentials[clientSecret]: "***"  (from ${file:.secrets/sf-secret})'
        in body
    )
    # Not secret: shown in clear, so a reviewer sees where the secret goes.
    assert (
        '    + authentication.credentials[tokenEndpoint]: "https://login.acme.example/token"'
        in body
    )
    assert "(value in git)" not in output


def test_a_create_shows_every_field_in_markdown_with_where_credentials_come_from() -> None:
    md = markdown.render(create_plan())
    _well_formed(md)
    assert "mappings: 3" not in md
    assert "<details><summary>+ create new-one (DRAFT → ACTIVE) — 21 field(s)</summary>" in md
    assert "| <code>syncSettings.batchSize</code> | <code>200</code> |" in md
    assert (
        '| <code>authentication.credentials[clientId]</code> | <code>"***"</code> from '
        "<code>${env:SF_CLIENT_ID}</code> |"
    ) in md
    assert (
        "| <code>authentication.credentials[tokenEndpoint]</code> | "
        '<code>"https://login.acme.example/token"</code> |'
    ) in md


def test_credentials_a_change_writes_name_their_references() -> None:
    output = text.render(busy_plan())
    assert (
        "credentials: rotated (fingerprint differs); written from account (value in git), "
        "apiKey ${env:SF_SECRET}"
    ) in output
    md = markdown.render(busy_plan())
    assert "apiKey ${env:SF_SECRET}" in md.split("update keys")[1]
    # Adopting writes the credentials too (no fingerprint yet): their sources are named.
    assert "clientSecret ${env:SF_SECRET}" in output.split("& adopt adopt-me")[1]


def test_markdown_leaves_out_create_fields_before_whole_sections() -> None:
    mappings = tuple(
        FieldMapping(f"contact.custom.f{i}", f"F{i}", "INBOUND", "trim") for i in range(40)
    )
    plan = make_plan([spec(f"new-{i:02d}", mappings=mappings) for i in range(30)], [])
    whole = markdown.MarkdownRenderer(budget=10**7).render(plan)
    assert len(whole) > markdown.DEFAULT_BUDGET
    assert "| <code>mappings[contact.custom.f9].transformation</code> |" in whole
    md = markdown.render(plan)
    assert len(md) <= markdown.DEFAULT_BUDGET
    _well_formed(md)
    assert md.count("<details>") == 30  # every connector still has its section
    assert "new connectors' fields left out" in md
    assert "connectors/x.yaml" in md
    assert "credentials written from clientId (value in git), clientSecret ${env:SF_SECRET}" in md
