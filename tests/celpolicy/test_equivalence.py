"""What a rule is handed (only the fields it reads) and kept verdicts (one run per distinct
view) give exactly the verdicts of evaluating every rule on whole connectors."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.celpolicy import library
from reconciler.celpolicy.compile import PolicyRule
from reconciler.celpolicy.evaluate import check_changes
from reconciler.celpolicy.judge import reason_of
from reconciler.config.project import load_project
from reconciler.model import ConnectorSpec, DesiredConnector, SourceLocation
from reconciler.secret import mask_value

RULES = [
    'connector.endpointUrl.startsWith("https://crm")',
    "connector.mappings[0].direction == 'INBOUND'",
    "connector.labels['team'] == 'a'",
    "has(connector.labels.team) && connector.labels.team != ''",
    'connector.mappings.map(m, m.crmField).exists(f, f == "id")',
    "size(connector.mappings) > 2",
    "current == null || connector == current",
    "current == null || current.endpointUrl == connector.endpointUrl",
    '[connector.name, connector.endpointUrl].exists(x, x == "")',
    "current == null || current.authentication.credentials.all(k, "
    "current.authentication.credentials[k] == '***')",
    "connector.mappings.filter(m, m.direction == 'OUTBOUND').map(m, m.crmField).all(f, f != 'ssn')",
    "connector.mappings.all(m, has(m.transformation) ? m.transformation != '' : true)",
    'change.fields.exists(f, f.startsWith("mappings")) || change.action == "create"',
    "connector.description.size() > 3",
    "connector.syncSettings.batchSize < 300",
    "connector.labels.exists(k, k.startsWith('t'))",
    "!change.deactivates || project.deactivations <= 1",
    "environment == 'prod' && connector.authentication.type == 'API_KEY'",
    "current == null || current.authentication.credentials.headerName == 'X-Api-Key'",
    "current == null || current.authentication == connector.authentication",
]


@dataclass
class _Pin:
    spec: ConnectorSpec


@dataclass
class _Field:
    path: str


@dataclass
class _Change:
    name: str
    action: str
    desired: DesiredConnector | None
    remote: _Pin | None
    fields: tuple[_Field, ...]
    transition: tuple[str, str] | None = None


def random_connector(rng: random.Random, i: int) -> dict[str, Any]:
    mappings = [
        {
            "cxoneField": f"contact.f{m}",
            "crmField": rng.choice(["id", "ssn", "email", f"x{m}"]),
            "direction": rng.choice(["INBOUND", "OUTBOUND", "BIDIRECTIONAL"]),
            **({"transformation": rng.choice(["", "trim"])} if rng.random() < 0.5 else {}),
        }
        for m in range(rng.randint(0, 4))
    ]
    doc: dict[str, Any] = {
        "name": f"C{i}",
        "lifecycleStatus": "ACTIVE",
        "connectorType": "CUSTOM",
        "endpointUrl": rng.choice(["https://crm.example/a", "https://other.example/", ""]),
        "authentication": {
            "type": rng.choice(["API_KEY", "OAUTH2"]),
            "credentials": {
                "apiKey": "${env:KEY}",
                "headerName": rng.choice(["X-Api-Key", "X-Key"]),
            },
        },
        "mappings": mappings,
        "labels": rng.choice([{}, {"team": "a"}, {"team": ""}, {"tier": "gold"}]),
    }
    if rng.random() < 0.6:
        doc["description"] = rng.choice(["", "a described one"])
    if rng.random() < 0.5:
        doc["syncSettings"] = {"batchSize": rng.choice([100, 500])}
    return doc


def reference(rule: PolicyRule, variables: dict[str, Any]) -> str | None:
    """The verdict on whole values: None holds, "" false, else the error's first line."""
    try:
        result = library.context_program_run(rule.rule, variables)
    except Exception as exc:
        return reason_of(exc)
    return None if result is True else ""


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kept_and_pruned_verdicts_are_those_of_whole_connectors(tmp_path: Path, seed: int) -> None:
    entries = [{"name": f"r{i}", "rule": rule} for i, rule in enumerate(RULES)]
    (tmp_path / "cxrecon.yaml").write_text(yaml.safe_dump({"policies": entries}))
    rules = load_project(tmp_path).cel_policies.rules
    rng = random.Random(seed)
    changes = []
    for i in range(60):
        desired = ConnectorSpec.from_api(random_connector(rng, i))
        remote = ConnectorSpec.from_api(random_connector(rng, i)) if rng.random() < 0.7 else None
        fields = tuple(_Field(p) for p in rng.sample(["mappings[a]", "labels.team", "name"], 2))
        changes.append(
            _Change(
                desired.name,
                "update" if remote else "create",
                DesiredConnector(desired, SourceLocation("c.yaml", 1, 1)),
                _Pin(remote) if remote else None,
                fields,
                ("ACTIVE", "INACTIVE") if rng.random() < 0.2 else None,
            )
        )
    found = check_changes(rules, changes, environment="prod", project="p")
    got = {(v.policy, v.connector): v.reason or "" for v in found}

    deactivations = sum(1 for c in changes if c.transition)
    expected: dict[tuple[str, str], str] = {}
    for change in changes:
        assert change.desired is not None
        current = None
        if change.remote is not None:
            current = change.remote.spec.to_api()
            current["authentication"] = mask_value(("authentication",), current["authentication"])
        variables = {
            "connector": change.desired.spec.to_api(),
            "current": current,
            "change": {
                "action": change.action,
                "fields": [f.path for f in change.fields],
                "deactivates": change.transition is not None,
            },
            "environment": "prod",
            "project": {"name": "p", "deactivations": deactivations, "changes": {}},
        }
        for rule in rules:
            verdict = reference(rule, variables)
            if verdict is not None:
                expected[rule.name, change.name] = verdict
    assert got == expected
