"""Issue 13, "Files and references": what a hostile or careless connectors repository can put
in front of `validate` — special files, links and paths out of the project, references to
cxrecon's own credentials, credentials in URLs — is reported at its place, never read, never
echoed."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from reconciler.load.desired import load_desired

from .helpers import connector_yaml


@pytest.fixture
def connectors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "connectors"
    folder.mkdir()
    (folder / "ok.yaml").write_text(connector_yaml("Fine"), encoding="utf-8")
    return folder


def _found(folder: Path) -> list[tuple[str, str, str]]:
    result = load_desired(folder)
    return [
        (str(d.location), d.severity, d.rule) for d in result.diagnostics if d.location is not None
    ]


# --- item 4: anything that is not a regular file -----------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
@pytest.mark.timeout(20)
def test_a_named_pipe_is_reported_and_never_opened(connectors: Path) -> None:
    os.mkfifo(connectors / "x.yaml")
    assert _found(connectors) == [("connectors/x.yaml:1:1", "error", "not-a-regular-file")]
    result = load_desired(connectors)
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
    assert [c.name for c in load_desired(connectors).connectors] == ["Fine", "B"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
@pytest.mark.timeout(20)
def test_a_named_pipe_given_as_the_path_is_reported(connectors: Path) -> None:
    os.mkfifo(connectors / "x.yaml")
    assert _found(connectors / "x.yaml") == [
        ("connectors/x.yaml:1:1", "error", "not-a-regular-file")
    ]
