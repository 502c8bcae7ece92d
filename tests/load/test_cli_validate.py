"""`cxrecon validate`: exit codes, text/JSON output, GitHub annotations, project handling,
and a light import graph (no HTTP client, no emulator)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli.main import cli

from .inputs import CANARY, REPO, connector_yaml

PROJECT = """\
connectors: desired
defaultEnvironment: sandbox
environments:
  sandbox:
    vars: {url: https://crm.sandbox.example}
  production:
    vars: {}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    (tmp_path / "cxrecon.yaml").write_text(PROJECT, encoding="utf-8")
    (tmp_path / "desired").mkdir()
    return tmp_path


def _write(project: Path, name: str, text: str) -> None:
    (project / "desired" / name).write_text(text, encoding="utf-8")


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["validate", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_valid_desired_state_exits_zero_with_a_summary(project: Path) -> None:
    _write(project, "a.yaml", connector_yaml("A"))
    code, out, _ = _run()
    assert (code, out) == (0, "1 connector in 1 file: valid\n")


def test_invalid_desired_state_exits_one_with_located_lines(project: Path) -> None:
    _write(project, "a.yaml", connector_yaml("A").replace("INBOUND", "INBOND"))
    _write(
        project,
        "b.yaml",
        connector_yaml(
            "B",
            extra="  - cxoneField: contact.phone\n"
            "    crmField: phone\n    direction: BIDIRECTIONAL\n",
        ),
    )
    code, out, _ = _run()
    assert code == 1
    assert out.splitlines() == [
        "desired/a.yaml:12:16: error: mappings[0].direction: 'INBOND' is not one of INBOUND, "
        "OUTBOUND, BIDIRECTIONAL (did you mean 'INBOUND'?) [schema]",
        "desired/b.yaml:15:16: warning: BIDIRECTIONAL mapping of 'contact.phone' has no "
        "transformation; data-type mismatches may occur in one direction (add e.g. "
        "`transformation: trim`, or `none` to state that no conversion is intended) "
        "[bidirectional-without-transformation]",
        "1 error, 1 warning in 2 files; the desired state is invalid",
    ]


def test_strict_turns_warnings_into_a_failure(project: Path) -> None:
    _write(
        project,
        "b.yaml",
        connector_yaml(
            "B",
            extra="  - cxoneField: contact.phone\n"
            "    crmField: phone\n    direction: BIDIRECTIONAL\n",
        ),
    )
    assert _run()[0] == 0
    code, out, _ = _run("--strict")
    assert code == 1
    assert "error: BIDIRECTIONAL mapping" in out


def test_without_environment_every_environment_is_checked(project: Path) -> None:
    _write(project, "a.yaml", connector_yaml("A", endpoint="${var:url}/api"))
    code, out, _ = _run()
    assert code == 1
    assert "unknown variable 'url' (defined: none)" in out
    assert "[environment: production]" in out
    assert _run("-e", "sandbox")[0] == 0


def test_unknown_environment_is_reported_without_traceback(project: Path) -> None:
    code, out, _ = _run("-e", "staging")
    assert code == 1
    assert "unknown environment 'staging' (known: production, sandbox)" in out


def test_explicit_path_overrides_the_project_connectors(project: Path) -> None:
    (project / "other").mkdir()
    (project / "other" / "x.yaml").write_text("name: [\n", encoding="utf-8")
    code, out, _ = _run("other")
    assert code == 1
    assert out.startswith("other/x.yaml:2:1: error: YAML syntax error")


def test_json_output_is_a_stable_object(project: Path) -> None:
    _write(project, "a.yaml", connector_yaml("A") + "extra: 1\n")
    _write(project, "b.yaml", connector_yaml("B"))
    code, out, _ = _run("--format", "json")
    assert code == 1
    payload = json.loads(out)
    assert set(payload) == {
        "valid",
        "environment",
        "environments",
        "files",
        "connectors",
        "errors",
        "warnings",
        "digest",
        "diagnostics",
        "cache",
        "policy",
    }
    assert (payload["valid"], payload["files"], payload["connectors"]) == (False, 2, 1)
    assert (payload["errors"], payload["warnings"], payload["environment"]) == (1, 0, "sandbox")
    assert payload["diagnostics"] == [
        {
            "severity": "error",
            "rule": "schema",
            "message": "unknown key 'extra'; allowed: authentication, connectorType, description, "
            "endpointUrl, labels, lifecycleStatus, management, mappings, name, previousNames, "
            "syncSettings, version",
            "path": "desired/a.yaml",
            "line": 13,
            "col": 1,
        }
    ]


def test_json_names_every_environment_checked_without_e(project: Path) -> None:
    _write(project, "a.yaml", connector_yaml("A"))
    payload = json.loads(_run("--format", "json")[1])
    # `environment` is the one the digest and connector count come from (the default).
    assert (payload["environment"], payload["environments"]) == (
        "sandbox",
        ["sandbox", "production"],
    )
    payload = json.loads(_run("--format", "json", "-e", "production")[1])
    assert (payload["environment"], payload["environments"]) == ("production", ["production"])


def test_json_names_no_environment_when_there_is_no_project_file(
    project: Path,
) -> None:
    (project / "cxrecon.yaml").unlink()
    (project / "connectors").mkdir()
    (project / "connectors" / "a.yaml").write_text(connector_yaml("A"), encoding="utf-8")
    payload = json.loads(_run("--format", "json")[1])
    assert (payload["valid"], payload["environment"], payload["environments"]) == (True, None, [])


def test_unknown_var_without_a_project_file_says_to_create_cxrecon_yaml(project: Path) -> None:
    (project / "cxrecon.yaml").unlink()
    _write(project, "a.yaml", connector_yaml("A", endpoint="${var:url}/api"))
    code, out, _ = _run("desired")
    assert code == 1
    assert out.startswith(
        "desired/a.yaml:4:14: error: ${var:url} needs a value, but there is no cxrecon.yaml; "
        "create it with an environment holding `vars: {url: …}`"
    )
    # plan takes the implicit environment (no vars): the same advice, not "add it under".
    plan = CliRunner().invoke(cli, ["plan", "desired"])
    assert plan.exit_code == 1
    assert "there is no cxrecon.yaml; create it" in plan.output
    assert "add it under" not in plan.output


def test_a_missing_connectors_directory_points_at_its_key_in_cxrecon_yaml(project: Path) -> None:
    (project / "cxrecon.yaml").write_text(
        PROJECT.replace("connectors: desired", "# where connectors live\nconnectors: nowhere/"),
        encoding="utf-8",
    )
    code, out, _ = _run()
    assert code == 1
    assert out.splitlines()[0] == (
        "cxrecon.yaml:2:1: error: connectors directory nowhere does not exist; create it, "
        "or fix `connectors:` here (relative to cxrecon.yaml) [input]"
    )
    # An explicit PATH is the user's, not the project's: no cxrecon.yaml location.
    code, out, _ = _run("elsewhere")
    assert (code, out.splitlines()[0]) == (
        1,
        "error: elsewhere does not exist; pass a connectors directory or file [input]",
    )


def test_github_actions_annotations_are_escaped(project: Path) -> None:
    _write(project, "a,b.yaml", connector_yaml("A") + "x%y: 1\n")
    code, out, _ = _run(env={"GITHUB_ACTIONS": "true"})
    assert code == 1
    annotations = [line for line in out.splitlines() if line.startswith("::")]
    assert annotations == [
        "::error file=desired/a%2Cb.yaml,line=13,col=1,title=cxrecon schema::unknown key 'x%25y'; "
        "allowed: authentication, connectorType, description, endpointUrl, labels, "
        "lifecycleStatus, management, mappings, name, previousNames, syncSettings, version"
    ]


def test_github_annotations_go_to_stderr_with_json(project: Path) -> None:
    _write(project, "a.yaml", connector_yaml("A").replace("ACTIVE", "ON"))
    code, out, err = _run("--format", "json", env={"GITHUB_ACTIONS": "true"})
    assert code == 1
    json.loads(out)
    assert err.startswith("::error file=desired/a.yaml,line=2,col=18,")


def test_invalid_project_file_is_reported_with_locations(project: Path) -> None:
    (project / "cxrecon.yaml").write_text(
        f"environments:\n  prod:\n    clientSecret: {CANARY}\n", encoding="utf-8"
    )
    code, out, _ = _run()
    assert code == 1
    assert out.startswith("cxrecon.yaml:3:5: error: 'clientSecret' is a secret")
    assert CANARY not in out


def test_a_literal_secret_never_appears_in_any_output(project: Path) -> None:
    _write(project, "a.yaml", connector_yaml("A").replace("${env:CRM_API_KEY}", CANARY))
    for args in ((), ("--format", "json")):
        code, out, err = _run(*args, env={"GITHUB_ACTIONS": "true"})
        assert code == 1
        assert "secret-literal" in out + err
        assert CANARY not in out + err


def test_validate_does_not_import_the_http_client_or_the_emulator(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from reconciler.cli.main import main\n"
        "try:\n"
        "    main(['validate', sys.argv[1]])\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "heavy = sorted(m for m in sys.modules if m == 'httpx' or m.startswith("
        "('httpx.', 'reconciler.cxone', 'reconciler.emulator', 'uvicorn', 'starlette')))\n"
        "print('HEAVY', heavy, 'CODE', code)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe, str(REPO / "connectors")],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    assert "HEAVY [] CODE 0" in completed.stdout


def test_repository_connectors_validate_from_the_repository_root(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    code, out, _ = _run("--strict")
    assert code == 0, out
    assert out.endswith(": valid\n")
