"""Reading and bounding rules: located errors for unknown names, and hostile rules (deep
nesting, huge literals, comprehensions over large lists, doubling maps) refused quickly."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from apply.helpers import connector_doc

from reconciler.celpolicy.evaluate import check_desired
from reconciler.config.project import load_project
from reconciler.errors import ConfigError
from reconciler.model import ConnectorSpec, DesiredConnector, SourceLocation

_NUMBERS = "[" + ",".join(str(i) for i in range(150)) + "]"
#: Each hostile rule, and what stops it.
HOSTILE = {
    "deep nesting": ("(" * 200 + "true" + ")" * 200, "nests more than 64 levels"),
    "deep nesting past the length": ("(" * 5000 + "true" + ")" * 5000, "characters long"),
    "long operator chain": (" && ".join(["true"] * 300), "nests more than 64 levels"),
    "huge string literal": ('"' + "a" * 500_000 + '" != ""', "characters long"),
    "many tokens": ("[" + ",".join(["1"] * 2000) + "].size() > 0", "more than 1024 tokens"),
    "cross product over the mappings": (
        "connector.mappings.all(a, connector.mappings.all(b, "
        "connector.mappings.all(c, a == b || b == c)))",
        "worst-case cost is too large",
    ),
    "comprehension over a large literal list": (
        f"{_NUMBERS}.all(x, {_NUMBERS}.all(y, {_NUMBERS}.exists(z, x + y == z)))",
        "worst-case cost is too large",
    ),
    "doubling maps": (
        '["ab"]' + ".map(b, b + b)" * 40 + ".size() > 0",
        "worst-case size of a value is too large",
    ),
}


def project_with(tmp_path: Path, rule: str, name: str = "p") -> ConfigError:
    escaped = rule.replace("'", "''")
    (tmp_path / "cxrecon.yaml").write_text(
        f"project: demo\npolicies:\n  - name: {name}\n    rule: '{escaped}'\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path)
    return caught.value


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_rules_end_with_a_located_error_quickly(tmp_path: Path, kind: str) -> None:
    rule, stopped_by = HOSTILE[kind]
    start = time.perf_counter()
    error = project_with(tmp_path, rule)
    assert time.perf_counter() - start < 2.0
    assert "cxrecon.yaml:4:11: error: policy 'p': " in str(error)
    assert stopped_by in str(error)


@pytest.mark.parametrize(
    ("rule", "said"),
    [
        ("conector.name == ''", "unknown variable 'conector'"),
        ("connector.endpointUr == ''", "unknown field 'endpointUr'"),
        ("connector.mappings.all(m, m.crmFeld != '')", "unknown field 'crmFeld'"),
        ("lowerAscii(connector.name) == ''", "unknown function 'lowerAscii'"),
        ("connector.name ==", "unexpected the end of the rule"),
    ],
)
def test_rule_errors_name_what_is_unknown(tmp_path: Path, rule: str, said: str) -> None:
    assert said in str(project_with(tmp_path, rule))


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    (tmp_path / "cxrecon.yaml").write_text(
        "policies:\n  - name: a\n    rule: 'true'\n  - name: a\n    rule: 'true'\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="policy 'a': the name is also used"):
        load_project(tmp_path)


def rules_of(tmp_path: Path, text: str) -> list:  # type: ignore[type-arg]
    head = "project: demo\nenvironments:\n  prod: {}\n  dev: {}\npolicies:\n"
    (tmp_path / "cxrecon.yaml").write_text(head + text, encoding="utf-8")
    return list(load_project(tmp_path).cel_policies.rules)


def desired(name: str = "Billing", **overrides: object) -> DesiredConnector:
    doc = connector_doc(name, **overrides)
    return DesiredConnector(ConnectorSpec.from_api(doc), SourceLocation("c/x.yaml", 3, 1))


def test_a_rule_failing_at_run_time_is_a_violation_with_the_reason(tmp_path: Path) -> None:
    rules = rules_of(tmp_path, "  - name: d\n    rule: connector.description.size() > 0\n")
    connector = DesiredConnector(
        ConnectorSpec.from_api({**connector_doc("X"), "description": None}),
        SourceLocation("c/x.yaml", 1, 1),
    )
    (found,) = check_desired(rules, [connector], environment=None, project="demo")
    assert found.reason is not None
    assert "could not be evaluated" in found.message


def test_scoping_by_environment_and_connector_glob(tmp_path: Path) -> None:
    rules = rules_of(
        tmp_path,
        "  - name: f\n    rule: 'false'\n    environments: [prod]\n    connectors: ['Sales*']\n",
    )
    connectors = [desired("Salesforce"), desired("Billing")]
    in_prod = check_desired(rules, connectors, environment="prod", project="demo")
    assert [v.connector for v in in_prod] == ["Salesforce"]
    assert check_desired(rules, connectors, environment="dev", project="demo") == ()


def test_secrets_are_seen_as_references_only(tmp_path: Path) -> None:
    rules = rules_of(
        tmp_path,
        "  - name: s\n    rule: connector.authentication.credentials.apiKey.startsWith('${env:')\n",
    )
    assert check_desired(rules, [desired()], environment=None, project="demo") == ()


def test_environment_variable_and_warning_severity(tmp_path: Path) -> None:
    rules = rules_of(
        tmp_path, "  - name: w\n    severity: warning\n    rule: environment == 'prod'\n"
    )
    (found,) = check_desired(rules, [desired()], environment="dev", project="demo")
    assert found.severity == "warning"
    assert check_desired(rules, [desired()], environment="prod", project="demo") == ()


def test_the_library_loads_without_its_command_line_tool() -> None:
    # A fresh interpreter: `import cel` (the package) costs 0.8 s of prompt_toolkit/rich/typer.
    code = (
        "import sys\n"
        "from reconciler.celpolicy.compile import _compile\n"
        "_compile('connector.name != \"\"')\n"
        "assert 'prompt_toolkit' not in sys.modules and 'cel' not in sys.modules\n"
        "import cel\n"
        "assert cel.compile('1 + 1').execute({}) == 2\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_an_environment_the_project_does_not_define_is_located(tmp_path: Path) -> None:
    (tmp_path / "cxrecon.yaml").write_text(
        "environments:\n  prod: {}\npolicies:\n  - name: p\n    rule: 'true'\n"
        "    environments: [prod, produciton]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path)
    assert "cxrecon.yaml:6:26: error: policy 'p': environment 'produciton' is not defined" in str(
        caught.value
    )
