"""`notifications:` in cxrecon.yaml: read into `Project.notifications`, every problem located
(file:line:col) in one run, and never the URL's text in a message (it is a secret)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config.project import load_project
from reconciler.errors import ConfigError

BASE = """\
project: crm
environments:
  sandbox: {}
  production: {}
defaultEnvironment: sandbox
"""
SECRET_URL = "slack://CANARY-tokenA/CANARY-tokenB/CANARY-tokenC"


def load(tmp_path: Path, notifications: str) -> object:
    (tmp_path / "cxrecon.yaml").write_text(BASE + notifications)
    return load_project(tmp_path)


def problems(tmp_path: Path, notifications: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, notifications)
    text = str(caught.value)
    assert "CANARY" not in text
    return text


def test_a_valid_block_becomes_notifications_with_their_events_and_environments(
    tmp_path: Path,
) -> None:
    project = load_project_with(
        tmp_path,
        """\
notifications:
  - name: team-chat
    url: ${env:TEAMS_WEBHOOK_URL}
    events: [deleted-in-cxone, drift]
    environments: [production]
  - name: ops-mail
    url: mailtos://user:${env:MAIL_PASSWORD}@example.com
    events: [apply-failed, controller-not-ready, controller-recovered]
""",
    )
    chat, mail = project.notifications
    assert chat.name == "team-chat"
    assert chat.events == ("drift", "deleted-in-cxone")  # in the documented order
    assert chat.environments == ("production",)
    assert chat.wants("drift", "production")
    assert not chat.wants("drift", "sandbox")
    assert not chat.wants("applied", "production")
    assert mail.environments is None
    assert mail.wants("apply-failed", "sandbox")
    assert mail.variables == ("MAIL_PASSWORD",)
    assert "${env:" not in repr(chat)
    assert "TEAMS" not in repr(chat)
    assert str(chat.location).endswith("cxrecon.yaml:7:5")


def load_project_with(tmp_path: Path, notifications: str):  # type: ignore[no-untyped-def]
    (tmp_path / "cxrecon.yaml").write_text(BASE + notifications)
    return load_project(tmp_path)


def test_no_block_means_no_notifications(tmp_path: Path) -> None:
    assert load_project_with(tmp_path, "").notifications == ()


def test_every_problem_is_located_in_one_run(tmp_path: Path) -> None:
    text = problems(
        tmp_path,
        f"""\
notifications:
  - name: chat
    url: {SECRET_URL}
    events: [drift, drfit]
  - name: chat
    url: ${{env:OPS_URL}}
    events: [applied]
    environments: [staging]
  - url: ${{env:X}}
    events: [drift]
  - name: leak
    url: json://example.com/${{env:CXONE_CLIENT_SECRET}}
    events: [drift]
  - name: nourl
    url: just-some-text
    events: [drift]
""",
    )
    assert "cxrecon.yaml:9:21: error: notifications[0].events[1]: 'drfit' is not one of" in text
    assert "cxrecon.yaml:10:5: error: notification name 'chat' is used twice" in text
    assert (
        "cxrecon.yaml:13:20: error: notification 'chat': environment 'staging' is not defined "
        "under environments (defined: production, sandbox)"
    ) in text
    assert "cxrecon.yaml:14:5: error: notifications[2]: missing required key 'name'" in text
    assert "cxrecon.yaml:17:5: error: notification 'leak': url uses ${env:CXONE_CLIENT_SECRET}" in (
        text
    )
    assert "cxrecon.yaml:20:5: error: notification 'nourl': url is not an Apprise URL" in text


def test_a_reference_other_than_env_is_refused_without_showing_the_url(tmp_path: Path) -> None:
    text = problems(
        tmp_path,
        """\
notifications:
  - name: chat
    url: json://host/CANARY-path/${file:secrets/hook}
    events: [drift]
""",
    )
    assert "notification 'chat': url holds a reference other than ${env:NAME}" in text


def test_environments_named_without_any_defined_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "cxrecon.yaml").write_text(
        "notifications:\n  - name: a\n    url: json://h/CANARY\n    events: [drift]\n"
        "    environments: [prod]\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path)
    assert "environment 'prod' is not defined under environments (defined: none defined)" in str(
        caught.value
    )
    assert "CANARY" not in str(caught.value)


def test_events_are_required_and_never_empty(tmp_path: Path) -> None:
    text = problems(
        tmp_path,
        "notifications:\n  - name: a\n    url: json://h/CANARY\n  - name: b\n"
        "    url: json://h/CANARY\n    events: []\n",
    )
    assert "notifications[0]: missing required key 'events'" in text
    assert "notifications[1].events" in text


def test_a_bad_name_is_an_error(tmp_path: Path) -> None:
    text = problems(
        tmp_path,
        "notifications:\n  - name: 'team chat!'\n    url: json://h/x\n    events: [drift]\n",
    )
    assert "notification names are letters, digits" in text


def test_a_url_written_into_the_file_is_a_committed_secret_and_an_error(tmp_path: Path) -> None:
    text = problems(
        tmp_path,
        f"notifications:\n  - name: chat\n    url: {SECRET_URL}\n    events: [drift]\n"
        "  - name: hook\n    url: jsons://hooks.example.com/CANARY-hook\n    events: [drift]\n",
    )
    assert text.count("is written into cxrecon.yaml, which is committed") == 2
    assert "cxrecon.yaml:8:5: error: notification 'chat': url is written into" in text
    assert "url: ${env:NAME}" in text


def test_a_url_to_this_machine_or_with_an_env_part_may_be_written_as_it_is(
    tmp_path: Path,
) -> None:
    project = load_project_with(
        tmp_path,
        "notifications:\n"
        "  - name: relay\n    url: json://127.0.0.1:8080/hook\n    events: [drift]\n"
        "  - name: local\n    url: jsons://localhost/hook\n    events: [drift]\n"
        "  - name: mail\n    url: mailtos://u:${env:SMTP_PASSWORD}@mail.example.com\n"
        "    events: [drift]\n",
    )
    assert [n.name for n in project.notifications] == ["relay", "local", "mail"]
