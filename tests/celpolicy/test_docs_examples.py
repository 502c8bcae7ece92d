"""The four example policies of docs/policies.md, loaded from the page and checked against
connectors that pass and fail each of them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from apply.helpers import connector_doc

from reconciler.celpolicy.compile import PolicyRule
from reconciler.celpolicy.evaluate import check_changes, check_desired
from reconciler.config.project import load_project
from reconciler.model import ConnectorSpec, DesiredConnector, SourceLocation

DOC = Path(__file__).parents[2] / "docs" / "policies.md"


def examples() -> dict[str, Any]:
    text = DOC.read_text(encoding="utf-8").split("## The four examples", 1)[1]
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    found = [yaml.safe_load(b)[0] for b in blocks]
    return {entry["name"]: entry for entry in found}


def rules(tmp_path: Path) -> dict[str, PolicyRule]:
    entries = examples()
    (tmp_path / "cxrecon.yaml").write_text(
        yaml.safe_dump(
            {
                "project": "demo",
                "environments": {"production": {}, "sandbox": {}},
                "policies": list(entries.values()),
            }
        ),
        encoding="utf-8",
    )
    project = load_project(tmp_path)
    return {r.name: r for r in project.cel_policies.rules}


def desired(**overrides: Any) -> DesiredConnector:
    doc = connector_doc("Billing", **overrides)
    return DesiredConnector(ConnectorSpec.from_api(doc), SourceLocation("c/billing.yaml", 1, 1))


def broken(rule: PolicyRule, connector: DesiredConnector) -> bool:
    return bool(check_desired([rule], [connector], environment="production", project="demo"))


def test_the_page_has_the_four_examples_and_each_compiles(tmp_path: Path) -> None:
    assert set(rules(tmp_path)) == {
        "crm-hosts",
        "no-card-or-national-id-outbound",
        "owning-team",
        "at-most-two-deactivations",
    }


def test_crm_hosts(tmp_path: Path) -> None:
    rule = rules(tmp_path)["crm-hosts"]
    assert not broken(rule, desired(endpointUrl="https://crm-eu.example.com/api"))
    assert broken(rule, desired(endpointUrl="https://evil.example.net/api"))
    # Only in production.
    other = check_desired([rule], [desired()], environment="sandbox", project="demo")
    assert other == ()


def test_no_card_or_national_id_outbound(tmp_path: Path) -> None:
    rule = rules(tmp_path)["no-card-or-national-id-outbound"]
    inbound = [{"cxoneField": "c.card", "crmField": "cardNumber", "direction": "INBOUND"}]
    outbound = [{"cxoneField": "c.ssn", "crmField": "ssn", "direction": "OUTBOUND"}]
    assert not broken(rule, desired(mappings=inbound))
    assert broken(rule, desired(mappings=outbound))


def test_owning_team(tmp_path: Path) -> None:
    rule = rules(tmp_path)["owning-team"]
    assert not broken(rule, desired(labels={"team": "billing"}))
    assert broken(rule, desired(labels={}))
    assert broken(rule, desired(labels={"team": ""}))


@dataclass
class _Change:
    name: str
    action: str
    desired: DesiredConnector | None
    remote: Any = None
    fields: tuple[Any, ...] = ()
    transition: tuple[str, str] | None = None


@pytest.mark.parametrize(("count", "held"), [(2, 0), (3, 3)])
def test_at_most_two_deactivations(tmp_path: Path, count: int, held: int) -> None:
    rule = rules(tmp_path)["at-most-two-deactivations"]
    changes = [
        _Change(f"C{i}", "deactivate", desired(), transition=("ACTIVE", "INACTIVE"))
        for i in range(count)
    ]
    changes.append(_Change("Other", "update", desired()))
    found = check_changes([rule], changes, environment="production", project="demo")
    assert len(found) == held
