"""Issue 13, "Files and references": what a hostile or careless connectors repository can put
in front of `validate` — special files, links and paths out of the project, references to
cxrecon's own credentials, credentials in URLs — is reported at its place, never read, never
echoed."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Final

import pytest

from reconciler.config.project import load_project
from reconciler.config.settings import SETTING_NAMES
from reconciler.errors import SecretResolutionError
from reconciler.load.desired import read_desired
from reconciler.load.secret_lookup import RefusedReferenceError, SecretLookup, resolve_secret

from .inputs import CANARY, connector_yaml


@pytest.fixture
def connectors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`connectors/` in a project folder; the working directory is the project folder."""
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    folder = project / "connectors"
    folder.mkdir()
    (folder / "ok.yaml").write_text(connector_yaml("Fine"), encoding="utf-8")
    return folder


def _found(folder: Path) -> list[tuple[str, str, str]]:
    result = read_desired(folder)
    return [
        (str(d.location), d.severity, d.rule) for d in result.diagnostics if d.location is not None
    ]


# --- item 4: anything that is not a regular file -----------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
@pytest.mark.timeout(20)
def test_a_named_pipe_is_reported_and_never_opened(connectors: Path) -> None:
    os.mkfifo(connectors / "x.yaml")
    assert _found(connectors) == [("connectors/x.yaml:1:1", "error", "not-a-regular-file")]
    result = read_desired(connectors)
    assert [c.name for c in result.connectors] == ["Fine"]
    assert "named pipe" in result.errors[0].message


@pytest.mark.skipif(sys.platform == "win32", reason="Unix sockets")
def test_a_socket_is_reported_and_skipped(connectors: Path) -> None:
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(connectors / "s.yaml"))
        assert _found(connectors) == [("connectors/s.yaml:1:1", "error", "not-a-regular-file")]


def test_a_folder_named_like_a_connector_file_is_reported_and_its_files_still_read(
    connectors: Path,
) -> None:
    (connectors / "team.yaml").mkdir()
    (connectors / "team.yaml" / "b.yaml").write_text(connector_yaml("B"), encoding="utf-8")
    assert _found(connectors) == [("connectors/team.yaml:1:1", "warning", "not-a-regular-file")]
    assert [c.name for c in read_desired(connectors).connectors] == ["Fine", "B"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
@pytest.mark.timeout(20)
def test_a_named_pipe_given_as_the_path_is_reported(connectors: Path) -> None:
    os.mkfifo(connectors / "x.yaml")
    assert _found(connectors / "x.yaml") == [
        ("connectors/x.yaml:1:1", "error", "not-a-regular-file")
    ]


# --- item 1: ${file:} stays inside the project -------------------------------------------

#: Where the apiKey reference of `connector_yaml` is written.
API_KEY_AT: Final = "connectors/x.yaml:8:13"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A secret file next to the project folder, not in it: ../outside/secret.txt."""
    folder = tmp_path / "outside"
    folder.mkdir()
    secret = folder / "secret.txt"
    secret.write_text(CANARY + "\n", encoding="utf-8")
    return secret


def _with_api_key(connectors: Path, reference: str) -> None:
    text = connector_yaml("X").replace("${env:CRM_API_KEY}", reference)
    (connectors / "x.yaml").write_text(text, encoding="utf-8")


def _messages(folder: Path) -> str:
    return "\n".join(str(d) for d in read_desired(folder).diagnostics)


@pytest.mark.parametrize(
    ("reference", "why"),
    [
        ("${file:../../etc/passwd}", "leaves the project folder"),
        ("${file:../outside/secret.txt}", "leaves the project folder"),
        ("${file:/etc/hostname}", "is an absolute path"),
        ("${file:/proc/self/environ}", "is an absolute path"),
        ("${file:.git/config}", "inside .git"),
        ("${file:sub/../../escape}", "leaves the project folder"),
    ],
)
def test_a_file_reference_out_of_the_project_is_an_error_at_its_place(
    connectors: Path, reference: str, why: str
) -> None:
    _with_api_key(connectors, reference)
    assert _found(connectors) == [(API_KEY_AT, "error", "ref-outside-project")]
    assert why in _messages(connectors)


def test_a_link_inside_the_project_to_a_file_outside_is_an_error(
    connectors: Path, outside: Path
) -> None:
    (connectors.parent / ".secrets").mkdir()
    (connectors.parent / ".secrets" / "key").symlink_to(outside)
    _with_api_key(connectors, "${file:.secrets/key}")
    assert _found(connectors) == [(API_KEY_AT, "error", "ref-outside-project")]
    assert "through a symbolic link" in _messages(connectors)
    assert CANARY not in _messages(connectors)


def test_a_file_reference_inside_the_project_is_fine_even_before_the_file_exists(
    connectors: Path,
) -> None:
    _with_api_key(connectors, "${file:.secrets/crm_api_key}")
    assert _found(connectors) == []


def test_file_references_are_relative_to_the_project_folder_not_the_working_directory(
    connectors: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_api_key(connectors, "${file:../escape}")
    monkeypatch.chdir(connectors)  # `..` from here is the project folder: still an escape
    project = load_project(connectors.parent)
    result = read_desired(project.connectors_path, project=project)
    assert [d.rule for d in result.diagnostics] == ["ref-outside-project"]


@pytest.mark.parametrize(
    "reference",
    ["${file:../outside/secret.txt}", "${file:/etc/hostname}", "${file:.secrets/key}"],
)
@pytest.mark.parametrize("emulated", [False, True])
def test_resolution_refuses_what_validate_refuses(
    connectors: Path, outside: Path, reference: str, emulated: bool
) -> None:
    (connectors.parent / ".secrets").mkdir()
    (connectors.parent / ".secrets" / "key").symlink_to(outside)
    lookup = SecretLookup({}, connectors.parent, emulated=emulated)
    with pytest.raises(RefusedReferenceError) as raised:
        lookup(reference)  # no emulator placeholder either: the reference itself is wrong
    assert CANARY not in str(raised.value)
    with pytest.raises(SecretResolutionError):
        resolve_secret(reference, {}, connectors.parent)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
@pytest.mark.timeout(20)
def test_a_secret_file_that_is_a_pipe_is_refused_without_waiting(connectors: Path) -> None:
    os.mkfifo(connectors.parent / "pipe")
    with pytest.raises(SecretResolutionError, match="not a regular file"):
        resolve_secret("${file:pipe}", {}, connectors.parent)


def test_a_connector_file_linking_out_of_the_project_is_refused_unread(
    connectors: Path, outside: Path
) -> None:
    yaml_outside = outside.with_name("x.yaml")
    yaml_outside.write_text(connector_yaml("Outside", extra=f"description: {CANARY}\n"))
    (connectors / "x.yaml").symlink_to(yaml_outside)
    assert _found(connectors) == [("connectors/x.yaml:1:1", "error", "file-outside-project")]
    assert [c.name for c in read_desired(connectors).connectors] == ["Fine"]
    assert CANARY not in _messages(connectors)


def test_a_connector_file_linking_inside_the_project_is_read(connectors: Path) -> None:
    shared = connectors.parent / "shared.yaml"
    shared.write_text(connector_yaml("Shared"), encoding="utf-8")
    (connectors / "x.yaml").symlink_to(shared)
    result = read_desired(connectors)
    assert [c.name for c in result.connectors] == ["Fine", "Shared"]
    assert result.connectors[1].source.path == "connectors/x.yaml"  # named as in the repo


def test_a_connectors_folder_linking_out_of_the_project_is_refused(
    connectors: Path, outside: Path
) -> None:
    project_root = connectors.parent
    shutil.rmtree(connectors)
    connectors.symlink_to(outside.parent)
    outside.with_name("y.yaml").write_text(connector_yaml("Y"), encoding="utf-8")
    project = load_project(project_root)
    result = read_desired(project.connectors_path, project=project)
    assert [d.rule for d in result.diagnostics] == ["file-outside-project"]
    assert result.connectors == ()


def test_connectors_in_the_project_file_must_name_a_folder_inside_it(
    connectors: Path, outside: Path
) -> None:
    project_file = connectors.parent / "cxrecon.yaml"
    project_file.write_text(f"connectors: {outside.parent}\n", encoding="utf-8")
    outside.with_name("y.yaml").write_text(connector_yaml("Y"), encoding="utf-8")
    project = load_project(connectors.parent)
    result = read_desired(project.connectors_path, project=project)
    assert [(str(d.location), d.rule) for d in result.diagnostics] == [
        ("cxrecon.yaml:1:1", "file-outside-project")
    ]


def test_a_folder_outside_the_project_given_explicitly_is_read(
    connectors: Path, outside: Path
) -> None:
    outside.with_name("y.yaml").write_text(connector_yaml("Y"), encoding="utf-8")
    result = read_desired(outside.parent, project=load_project(connectors.parent))
    assert [c.name for c in result.connectors] == ["Y"]


# --- item 2: never cxrecon's own credentials -----------------------------------------------


@pytest.mark.parametrize(
    "name",
    sorted(
        {env for env, _ in SETTING_NAMES.values()}
        | {"GITHUB_TOKEN", "GH_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "cxone_client_secret"}
        | {"CXRECON_EMULATOR_CLIENT_SECRET"}
    ),
)
def test_a_reference_to_cxrecons_own_variables_is_an_error_at_its_place(
    connectors: Path, name: str
) -> None:
    _with_api_key(connectors, f"${{env:{name}}}")
    assert _found(connectors) == [(API_KEY_AT, "error", "ref-reserved-variable")]
    with pytest.raises(RefusedReferenceError):
        SecretLookup({name: CANARY}, connectors.parent, emulated=True)(f"${{env:{name}}}")


def test_a_var_value_cannot_smuggle_in_a_reference_to_cxrecons_credentials(
    connectors: Path,
) -> None:
    (connectors.parent / "cxrecon.yaml").write_text(
        "defaultEnvironment: dev\n"
        "environments:\n"
        "  dev:\n"
        "    vars:\n"
        "      client: ${env:CXONE_CLIENT_SECRET}\n",
        encoding="utf-8",
    )
    text = connector_yaml("X").replace(
        "    apiKey: ${env:CRM_API_KEY}\n",
        "    apiKey: ${env:CRM_API_KEY}\n    headerName: X-${var:client}\n",
    )
    (connectors / "x.yaml").write_text(text + "description: $${env:GH_TOKEN}\n")
    project = load_project(connectors.parent)
    result = read_desired(project.connectors_path, project.environment(None), project=project)
    assert [(str(d.location), d.rule) for d in result.diagnostics] == [
        ("connectors/x.yaml:9:17", "ref-reserved-variable"),
        ("connectors/x.yaml:14:14", "ref-reserved-variable"),
    ]


# --- item 6: credentials in URLs and labels never reach output ----------------------------


@pytest.mark.parametrize(
    ("line", "where"),
    [
        (f"endpointUrl: https://crm-user:{CANARY}@crm.acme.example/api", "4:14"),
        (f"endpointUrl: https://{CANARY}@crm.acme.example/api", "4:14"),
        (f"endpointUrl: https://crm.acme.example/api?access_token={CANARY}", "4:14"),
        (f"endpointUrl: https://crm.acme.example/api?x=1&API-KEY={CANARY}", "4:14"),
        (f"endpointUrl: https://crm.acme.example/api?Password={CANARY}&x=1", "4:14"),
        (f"endpointUrl: https://crm.acme.example/cb#access_token={CANARY}", "4:14"),
        (f"endpointUrl: http://u:{CANARY}@crm.acme.example/api", "4:14"),
        (f"description: see https://u:{CANARY}@crm.acme.example for access", "13:14"),
    ],
)
def test_a_credential_in_a_url_is_an_error_that_never_shows_it(
    connectors: Path, line: str, where: str
) -> None:
    field = line.split(":", 1)[0]
    text = connector_yaml("X")
    if field == "endpointUrl":
        text = text.replace("endpointUrl: https://crm.acme.example/api", line)
    else:
        text += line + "\n"
    (connectors / "x.yaml").write_text(text, encoding="utf-8")
    assert _found(connectors) == [(f"connectors/x.yaml:{where}", "error", "secret-in-url")]
    assert CANARY not in _messages(connectors)


def test_a_credential_in_a_token_endpoint_is_an_error(connectors: Path) -> None:
    text = connector_yaml("X").replace(
        "  type: API_KEY\n  credentials:\n    apiKey: ${env:CRM_API_KEY}\n",
        "  type: OAUTH2\n  credentials:\n"
        f"    tokenEndpoint: https://login.acme.example/token?client_secret={CANARY}\n"
        "    clientId: app\n    clientSecret: ${env:CRM_SECRET}\n",
    )
    (connectors / "x.yaml").write_text(text, encoding="utf-8")
    assert _found(connectors) == [("connectors/x.yaml:8:20", "error", "secret-in-url")]
    assert CANARY not in _messages(connectors)


def test_a_credential_in_a_url_from_a_var_is_an_error_at_the_reference(connectors: Path) -> None:
    (connectors.parent / "cxrecon.yaml").write_text(
        "defaultEnvironment: dev\nenvironments:\n  dev:\n    vars:\n"
        f"      url: https://u:{CANARY}@crm.acme.example\n",
        encoding="utf-8",
    )
    text = connector_yaml("X", endpoint="${var:url}/api")
    (connectors / "x.yaml").write_text(text, encoding="utf-8")
    project = load_project(connectors.parent)
    result = read_desired(project.connectors_path, project.environment(None), project=project)
    assert [(str(d.location), d.rule) for d in result.diagnostics] == [
        ("connectors/x.yaml:4:14", "secret-in-url")
    ]
    assert CANARY not in "\n".join(d.message for d in result.diagnostics)


def test_ordinary_urls_and_query_parameters_are_fine(connectors: Path) -> None:
    text = connector_yaml(
        "X", endpoint="https://crm.acme.example/api?tokenType=bearer&page=1&to=a@b.example"
    )
    (connectors / "x.yaml").write_text(text + "description: see https://docs.acme.example\n")
    assert _found(connectors) == []


@pytest.mark.parametrize("key", ["password", "apiKey", "client_secret", "token"])
def test_a_label_named_like_a_secret_is_an_error_that_never_shows_its_value(
    connectors: Path, key: str
) -> None:
    value = "hunter2-Zq8x"
    text = connector_yaml("X", extra=f"labels:\n  team: crm\n  {key}: {value}\n")
    (connectors / "x.yaml").write_text(text, encoding="utf-8")
    assert _found(connectors) == [
        (f"connectors/x.yaml:15:{5 + len(key)}", "error", "secret-literal")
    ]
    assert value not in _messages(connectors)
