"""Control characters in values and file names never reach a terminal, a job log, a workflow
command or a Markdown comment raw (issue 13 item 5): a newline cannot forge a `::error`
line, ESC/OSC cannot retitle the terminal, bidi overrides cannot reorder what a reviewer
reads. validate (text, JSON, annotations), plan (text, Markdown, JSON), drift and apply
reports are fed hostile strings and read back."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path
from typing import Final

import pytest
from click.testing import CliRunner

from reconciler.apply.results import ConnectorResult, Outcome
from reconciler.apply.run import ApplyReport
from reconciler.cli.main import cli
from reconciler.config.project import SafetyLimits
from reconciler.github.actions import annotation
from reconciler.gitops.drift import ConnectorDrift, DriftedField, DriftReport, Unchecked
from reconciler.model import (
    LABEL_APPLIED_DIGEST,
    LABEL_MANAGED_BY,
    MANAGED_BY_VALUE,
    Authentication,
    ConnectorSpec,
    DesiredConnector,
    FieldMapping,
    RemoteConnector,
    SourceLocation,
)
from reconciler.plan.build import build_plan
from reconciler.plan.changes import Action, Plan
from reconciler.plan.credentials import CredentialChecker
from reconciler.plan.diff import Origin
from reconciler.plan.essence import applied_digest, essence_of
from reconciler.render import apply as apply_render
from reconciler.render import drift as drift_render
from reconciler.render import escape, json_format, markdown, text

FORGED: Final = "::error file=README.md,line=1::INJECTED"
#: Everything a hostile string may carry: a forged workflow command after LF and after CR,
#: an OSC that sets the terminal title, an 8-bit CSI, DEL, a bidi override, NEL, U+2028.
HOSTILE: Final = (
    f"x\n{FORGED}\r{FORGED}\x1b]0;PWNED\x07\x1b[2J\x9b31m\x7f\u202etxt.exe\x85\u2028end"
)
#: Characters none of the outputs may hold raw (ESC only as cxrecon's own colours).
RAW: Final = ("\x07", "\r", "\x9b", "\x7f", "\u202e", "\x85", "\u2028")
_OWN_COLOUR: Final = re.compile(r"\x1b\[[0-9;]*m")


def assert_inert(output: str, *, colour: bool = False) -> None:
    """No raw control character, no line that GitHub would run as a workflow command."""
    if colour:
        output = _OWN_COLOUR.sub("", output)
    for char in ("\x1b", *RAW):
        assert char not in output, f"raw {char!r} in output"
    for line in output.split("\n"):
        assert not line.lstrip().startswith(("::", "##[")), line


def assert_only_own_annotations(output: str, files: set[str]) -> int:
    """Every workflow command line is one of validate's annotations, about a real file."""
    count = 0
    for line in output.split("\n"):
        if not line.lstrip().startswith(("::", "##[")):
            continue
        match = re.fullmatch(
            r"::(error|warning) file=([^,:]*),line=\d+,col=\d+,title=cxrecon [a-z0-9-]+::(.*)",
            line,
        )
        assert match is not None, line
        assert match.group(2) in files, line
        for char in ("\x1b", *RAW):
            assert char not in match.group(3)
        count += 1
    return count


def connector_yaml(name: str, endpoint: str = "https://crm.acme.example/api") -> str:
    return (
        f"name: {name}\nlifecycleStatus: ACTIVE\nconnectorType: CUSTOM\n"
        f"endpointUrl: {endpoint}\nauthentication:\n  type: API_KEY\n  credentials:\n"
        "    apiKey: ${env:CRM_API_KEY}\nmappings:\n  - cxoneField: contact.external_id\n"
        "    crmField: id\n    direction: INBOUND\n"
    )


def spec(name: str, **changes: object) -> ConnectorSpec:
    base = ConnectorSpec(
        name=name,
        description="Contacts",
        lifecycle_status="ACTIVE",
        connector_type="CUSTOM",
        endpoint_url="https://crm.acme.example/api",
        authentication=Authentication(type="API_KEY", credentials={"apiKey": "${env:K}"}),
        mappings=(FieldMapping("contact.external_id", "id", "INBOUND"),),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def remote(s: ConnectorSpec, cid: str, *, managed: bool = True) -> RemoteConnector:
    """`s` in the tenant; `managed`: as cxrecon last applied it (no fingerprint)."""
    labels = dict(s.labels)
    if managed:
        labels[LABEL_MANAGED_BY] = MANAGED_BY_VALUE
        labels[LABEL_APPLIED_DIGEST] = applied_digest(essence_of(s))
    creds = {k: "********" for k in s.authentication.credentials}
    masked = Authentication(type=s.authentication.type, credentials=creds)
    return RemoteConnector(
        id=cid, etag='"v1"', spec=dataclasses.replace(s, authentication=masked, labels=labels)
    )


def make_plan(want: list[ConnectorSpec], have: list[RemoteConnector]) -> Plan:
    desired = [DesiredConnector(spec=w, source=SourceLocation("c/x.yaml", 1, 1)) for w in want]
    return build_plan(
        desired,
        have,
        limits=SafetyLimits(),
        checker=CredentialChecker(lookup=None),
        desired_digest="d" * 64,
        prune=True,
    )


# --- the escaping functions ---------------------------------------------------------------


def test_terminal_shows_every_control_character_as_an_escape() -> None:
    assert escape.terminal("a\nb\rc\td\x1b[31me\x9bf\u202eg") == (
        "a\\nb\\rc\\td\\x1b[31me\\x9bf\\u202eg"
    )
    assert escape.terminal("  ::error::x") == "  \\x3a:error::x"
    assert escape.terminal("##[error]x") == "\\x23#[error]x"
    assert escape.terminal("plain text: a::b, é ✓") == "plain text: a::b, é ✓"


def test_terminal_lines_keeps_line_breaks_and_defuses_each_line() -> None:
    assert escape.terminal_lines("one\n::error::two\r\nthree\x1b") == (
        "one\n\\x3a:error::two\nthree\\x1b"
    )


def test_workflow_command_escaping_follows_githubs_rules() -> None:
    assert escape.workflow_data("50% a\r\nb\x1b") == "50%25 a%0D%0Ab\\x1b"
    assert escape.workflow_property("f:1,2\n") == "f%3A1%2C2%0A"


def test_markdown_makes_markup_and_controls_inert() -> None:
    assert escape.markdown("<img src=x>`c` [a](b) | \\ &\n\x1b") == (
        "&lt;img src=x&gt;&#96;c&#96; [a]&#40;b) \\| &#92; &amp; \\x1b"
    )


def test_json_text_escapes_what_json_dumps_leaves_raw() -> None:
    document = json.dumps({"v": "a\u202eb\x9bc\u2028\n"}, ensure_ascii=False, indent=2)
    assert escape.json_text(document) == '{\n  "v": "a\\u202eb\\u009bc\\u2028\\n"\n}'
    assert json.loads(escape.json_text(document)) == json.loads(document)


def test_annotations_of_the_github_helpers_carry_no_raw_control_character() -> None:
    line = annotation("error", HOSTILE, title="t\x1b:x")
    assert line.count("\n") == 0
    assert_inert(line.removeprefix("::error"))


# --- validate ----------------------------------------------------------------------------


@pytest.fixture
def hostile_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """A project whose files hold hostile values and names; the display paths of its files."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "connectors"
    folder.mkdir()
    endpoint = json.dumps("https://crm.acme.example/" + HOSTILE)
    (folder / "a.yaml").write_text(connector_yaml("A", endpoint=endpoint), encoding="utf-8")
    name = json.dumps("B" + HOSTILE)
    (folder / "b.yaml").write_text(connector_yaml("B").replace("name: B", f"name: {name}"))
    names = {"connectors/a.yaml", "connectors/b.yaml"}
    if sys.platform != "win32":  # file names with control characters: POSIX only
        for hostile_name in ("\x1b]0;PWNED\x07.yaml", f"n\n{FORGED}.yaml", "\u202elmay.yaml"):
            (folder / hostile_name).write_text("name: [unclosed\n", encoding="utf-8")
        names |= {
            escape.workflow_property(f"connectors/{n}")
            for n in ("\x1b]0;PWNED\x07.yaml", f"n\n{FORGED}.yaml", "\u202elmay.yaml")
        }
    return names


def _validate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", *args], env={"GITHUB_ACTIONS": "true"})
    return result.exit_code, result.stdout + result.stderr


def test_validate_text_and_annotations_hold_no_raw_control_character(
    hostile_project: set[str],
) -> None:
    code, output = _validate()
    assert code == 1
    annotations = assert_only_own_annotations(output, hostile_project)
    assert annotations >= 2
    plain = "\n".join(line for line in output.split("\n") if not line.startswith("::"))
    assert_inert(plain)
    assert "INJECTED" in plain  # shown, as text
    assert "\\x1b]0;PWNED\\x07" in output  # visible for what it is


def test_validate_json_holds_no_raw_control_character(hostile_project: set[str]) -> None:
    code, output = _validate("--format", "json")
    assert code == 1
    document, _, annotations = output.partition("\n}\n")
    assert_inert(document + "\n}")
    assert_only_own_annotations(annotations, hostile_project)
    assert any("INJECTED" in d["message"] for d in json.loads(document + "\n}")["diagnostics"])


# --- plan, drift and apply reports ---------------------------------------------------------


def hostile_plan() -> Plan:
    """A desired connector and a tenant both holding hostile strings (a hostile server may
    send anything; a desired value bypassing validate is the worst case)."""
    desired = spec(
        "evil",
        description="desc " + HOSTILE,
        endpoint_url="https://crm.acme.example/" + HOSTILE,
        mappings=(FieldMapping("contact.external_id", "Id" + HOSTILE, "INBOUND"),),
        labels={"team" + HOSTILE: "crm" + HOSTILE},
    )
    new = spec("new-" + HOSTILE, endpoint_url="https://crm.acme.example/" + HOSTILE)
    edited = remote(spec("evil"), "e")
    edited = dataclasses.replace(
        edited, spec=dataclasses.replace(edited.spec, description="server " + HOSTILE)
    )
    orphan = remote(spec("orphan" + HOSTILE), "o")
    adopt = remote(spec("adopt" + HOSTILE, description=HOSTILE), "a", managed=False)
    return make_plan(
        [desired, new, spec("adopt" + HOSTILE, description="mine")], [edited, orphan, adopt]
    )


def test_plan_text_shows_hostile_strings_inert() -> None:
    plan = hostile_plan()
    assert any(c.action is Action.UPDATE for c in plan.changes)
    plain = text.TextRenderer(show_unchanged=True).render(plan)
    assert_inert(plain)
    assert "INJECTED" in plain
    assert_inert(text.TextRenderer(color=True, show_unchanged=True).render(plan), colour=True)


def test_plan_markdown_shows_hostile_strings_inert() -> None:
    md = markdown.render(hostile_plan())
    assert_inert(md)
    assert "INJECTED" in md


def test_plan_json_escapes_newlines_and_escape_characters() -> None:
    document = json_format.render(hostile_plan())
    assert "\x1b" not in document
    assert "\r" not in document
    for line in document.split("\n"):
        assert not line.lstrip().startswith("::"), line


def hostile_drift() -> DriftReport:
    field = DriftedField(
        path="description",
        parts=("description",),
        git="git " + HOSTILE,
        cxone="cxone " + HOSTILE,
        origin=Origin.DRIFT,
        secret=False,
        location=SourceLocation("connectors/" + HOSTILE + ".yaml", 3, 1),
    )
    drifted = ConnectorDrift(
        name="evil" + HOSTILE,
        connector_id="id" + HOSTILE,
        file="connectors/" + HOSTILE + ".yaml",
        applied_at="20260101T000000Z" + HOSTILE,
        fields=(field,),
    )
    return DriftReport(
        "prod",
        (drifted,),
        unchecked=(Unchecked("u" + HOSTILE, "server said " + HOSTILE, error=False),),
        pending=("p" + HOSTILE,),
        missing=("m" + HOSTILE,),
        unmanaged=("x" + HOSTILE,),
    )


@pytest.mark.parametrize("output_format", ["text", "markdown", "json"])
def test_drift_reports_show_hostile_strings_inert(output_format: str) -> None:
    rendered = drift_render.render(hostile_drift(), output_format)
    assert_inert(rendered)
    assert "INJECTED" in rendered


def test_drift_markdown_keeps_its_own_markup() -> None:
    md = drift_render.render_markdown(DriftReport("prod", (), pending=("a",)))
    assert "`cxrecon plan`" in md


def test_apply_progress_and_report_show_hostile_strings_inert() -> None:
    failed = ConnectorResult(
        "evil" + HOSTILE, Action.UPDATE, Outcome.FAILED, reason="server said " + HOSTILE
    )
    applied_ = ConnectorResult(
        "ok",
        Action.CREATE,
        Outcome.APPLIED,
        connector_id="id" + HOSTILE,
        lifecycle="ACTIVE",
        writes=1,
        warning="careful " + HOSTILE,
    )
    report = ApplyReport((failed, applied_))
    assert_inert(apply_render.result_line(applied_))
    for rendered in (apply_render.result_line(failed), apply_render.render_report(report)):
        assert_inert(rendered)
        assert "INJECTED" in rendered


def test_renderers_leave_ordinary_text_alone() -> None:
    plan = make_plan([spec("plain", description="a | b <c> `d` é")], [remote(spec("plain"), "p")])
    assert '"a | b <c> `d` é"' in text.render(plan)
    assert "a \\| b &lt;c&gt; &#96;d&#96; é" in markdown.render(plan)


def test_plan_markdown_shows_links_images_html_and_code_as_text() -> None:
    hostile = "[approve](https://evil.example) ![x](https://evil.example/p.png) <b>hi</b> `c`"
    plan = make_plan([spec("p", description=hostile)], [remote(spec("p"), "p")])
    md = markdown.render(plan)
    assert "](https://evil.example" not in md
    assert "<b>" not in md
    assert "`c`" not in md
    assert "[approve]&#40;https://evil.example)" in md


def test_an_error_message_quoting_a_hostile_name_is_escaped(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from reconciler.cli.main import cli

    folder = tmp_path / "connectors"
    folder.mkdir()
    (folder / "a.yaml").write_text('name: "x\\n::error file=README.md,line=1::INJECTED"\n')
    result = CliRunner().invoke(cli, ["plan", str(folder)], env={"GITHUB_ACTIONS": "true"})
    assert result.exit_code == 1
    assert not any(line.startswith("::error file=README.md") for line in result.output.splitlines())


def test_plan_markdown_mentions_nobody() -> None:
    # A pull request's plan comment is posted by the workflow's token: a connector name or
    # value written as a mention would notify that user or team.
    hostile = "ping @acme/admins and @octocat, mail ops@acme.example"
    plan = make_plan([spec("@acme/owners", description=hostile)], [remote(spec("x"), "x")])
    md = markdown.render(plan)
    assert re.search(r"@[A-Za-z0-9]", md) is None, md
    assert "@&#8203;acme/admins" in md
    assert "ops@&#8203;acme.example" in md
    assert escape.markdown("a @b") == "a @&#8203;b"
    assert escape.markdown("@ alone, a@") == "@ alone, a@"
