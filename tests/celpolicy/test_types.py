"""Rules are type-checked before anything runs: a rule that cannot give true or false, or
combines values CEL never converts (a string and a number), is a located error from every
command, with what to write instead; rules whose types are only known at run time pass."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from reconciler.config.project import load_project
from reconciler.errors import ConfigError

ROOT = Path(__file__).parents[2]

#: Each rule that does not type-check, and what the error says.
ILL_TYPED = {
    "connector.name": "the rule gives a string, not true or false",
    "size(connector.mappings)": "the rule gives an int, not true or false",
    "connector.name + 1 == 2": "'+' between a string and an int",
    "project.deactivations + 0.5 > 1.0": "'+' between an int and a double",
    "connector.endpointUrl && true": "'&&' needs true or false on both sides, not a string",
    "!connector.name": "'!' needs true or false, not a string",
    "connector.name < 3": "'<' between a string and an int",
    "connector.mappings.all(m, m.crmField)": "the condition of all() gives a string",
    "connector.syncSettings.batchSize.startsWith('1')": "startsWith() is a string function",
    "'a' in connector.name": "'in' needs a list or a map on its right, not a string",
    "connector.labels.team ? true : false": "the condition of '?:' gives a string",
    "connector.mappings - 1 == 0": "'-' between a list and an int",
}

WELL_TYPED = [
    "connector.name == 'x' || has(connector.description)",
    "current == null || current.endpointUrl == connector.endpointUrl",
    "connector.mappings.map(m, m.crmField).exists(f, f == 'id')",
    "connector.labels['team'] != ''",
    "size(connector.name) + 1 > 2",
    "change.deactivates ? project.deactivations <= 2 : true",
    "int(connector.version.size()) >= 1",
    "dyn(connector.name) + 1 == 2 || true",
    "[1, 2].exists(x, x > 1) && {'a': 1}['a'] == 1",
    "'id' in connector.mappings.map(m, m.crmField)",
    "connector.syncSettings.batchSize <= 500.0 || true",
    "[connector, current].exists(c, c != null) && [[1], ['a']].size() == 2",
    "connector.labels.exists(k, k.startsWith('cx')) || true",
]


def load(tmp_path: Path, rule: str) -> None:
    escaped = rule.replace("'", "''")
    (tmp_path / "cxrecon.yaml").write_text(
        f"project: demo\npolicies:\n  - name: p\n    rule: '{escaped}'\n", encoding="utf-8"
    )
    load_project(tmp_path)


@pytest.mark.parametrize("rule", sorted(ILL_TYPED))
def test_an_ill_typed_rule_is_a_located_error(tmp_path: Path, rule: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, rule)
    text = str(caught.value)
    assert "cxrecon.yaml:4:11: error: policy 'p': " in text
    assert ILL_TYPED[rule] in text, text


@pytest.mark.parametrize("rule", WELL_TYPED)
def test_rules_of_known_or_run_time_types_pass(tmp_path: Path, rule: str) -> None:
    load(tmp_path, rule)


def test_the_benchmark_and_documented_rules_type_check(tmp_path: Path) -> None:
    docs = (ROOT / "docs" / "policies.md").read_text(encoding="utf-8")
    bench = ast.parse((ROOT / "benchmarks" / "bench_policies.py").read_text(encoding="utf-8"))
    [bench_policies] = [
        ast.literal_eval(node.value)
        for node in bench.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "POLICIES"
    ]
    blocks = re.findall(r"```yaml\n(  - name:.*?)```", docs, flags=re.DOTALL)
    assert len(blocks) == 4
    (tmp_path / "cxrecon.yaml").write_text(
        "project: demo\nenvironments:\n  production: {}\n"
        + bench_policies
        + "".join(blocks).replace("  - name: ", "  - name: doc-"),
        encoding="utf-8",
    )
    assert len(load_project(tmp_path).cel_policies.rules) == 14
