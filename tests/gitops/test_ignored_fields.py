"""Fields the project leaves to CXone (ignoreDifferences) stay out of git: `drift
--write-back` never adopts them and `dump` never writes them, in the plan's spelling
(`mappings[*].transformation`) as well as the dotted one (`labels.oncall`)."""

from __future__ import annotations

from pathlib import Path

import yaml

from reconciler.plan.policy import matcher
from reconciler.testing import RunningEmulator

from .helpers import Run, remote_ids

MAPPINGS_IN_CXONE = [
    {"cxoneField": "case.external_id", "crmField": "id", "direction": "INBOUND"},
    {
        "cxoneField": "case.subject",
        "crmField": "subject",
        "direction": "INBOUND",
        "transformation": "trim",
    },
    {
        "cxoneField": "contact.email",
        "crmField": "requester_email",
        "direction": "INBOUND",
        "transformation": "email_normalize",
    },
    {
        "cxoneField": "case.priority",
        "crmField": "priority",
        "direction": "INBOUND",
        "transformation": "uppercase",
    },
]


def ignore(project: Path, *fields: str) -> None:
    path = project / "cxrecon.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["ignoreDifferences"] = [{"connectors": ["Support-*"], "fields": list(fields)}]
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def test_rules_in_the_plans_spelling_match_mapping_fields() -> None:
    ignored = matcher(["mappings[*].transformation", "mappings[contact.email]", "labels[tier]"])

    assert ignored(("mappings", "case.subject", "transformation"))
    assert ignored(("mappings", "contact.email", "direction"))
    assert ignored(("labels", "tier"))
    assert not ignored(("mappings", "case.subject", "direction"))
    assert not ignored(("labels", "team"))


def apply(run: Run, emulator: RunningEmulator) -> dict[str, str]:
    result = run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    return remote_ids(emulator)


def test_write_back_never_adopts_an_ignored_field(
    run: Run, emulator: RunningEmulator, project: Path
) -> None:
    ignore(project, "mappings[*].transformation", "labels.oncall")
    applied = apply(run, emulator)
    emulator.control.edit(
        applied["Support-Desk"],
        {
            "description": "Cases (edited in CXone)",
            "labels": {"oncall": "yes"},
            "mappings": MAPPINGS_IN_CXONE,
        },
    )
    before = (project / "connectors" / "support-desk.yaml").read_text(encoding="utf-8")

    result = run("drift", "--write-back")

    assert result.exit_code == 0, result.output
    after = (project / "connectors" / "support-desk.yaml").read_text(encoding="utf-8")
    added = set(after.splitlines()) - set(before.splitlines())
    assert added == {
        "description: Cases (edited in CXone)",
        "  - cxoneField: case.priority",
        "    crmField: priority",
    }
    assert "oncall" not in after
    assert "uppercase" not in after
    assert run("plan", "--detailed-exitcode").exit_code == 0
    assert run("drift").exit_code == 0


def test_dump_leaves_ignored_fields_out_and_says_so(
    run: Run, emulator: RunningEmulator, project: Path
) -> None:
    ignore(project, "mappings[*].transformation", "labels.oncall", "syncSettings.batchSize")
    applied = apply(run, emulator)
    emulator.control.edit(
        applied["Support-Desk"],
        {"labels": {"oncall": "yes"}, "syncSettings": {"batchSize": 300, "retryAttempts": 5}},
    )

    result = run("dump", "--out", "dumped")

    assert result.exit_code == 0, result.output
    dumped = yaml.safe_load((project / "dumped" / "support-desk.yaml").read_text("utf-8"))
    assert dumped["labels"] == {"team": "support-tools", "tier": "gold"}
    assert dumped["syncSettings"] == {"retryAttempts": 5}
    assert all("transformation" not in m for m in dumped["mappings"])
    assert [m["cxoneField"] for m in dumped["mappings"]] == [
        "case.external_id",
        "case.subject",
        "contact.email",
    ]
    legacy = (project / "dumped" / "legacy-tickets.yaml").read_text("utf-8")
    assert "transformation" in legacy  # the rule names Support-* only
    assert "field(s) left out of the files: ignoreDifferences" in result.output
