"""Plans of several environments side by side (reconciler.plan.comparison), for a terminal,
a pull-request comment, or as JSON: per connector the action each environment plans, per
field the value each would hold after apply, marked where that environment's plan changes
it and where an override sets it; the policies each environment breaks. Text is escaped for
the medium it goes to."""

from __future__ import annotations

import json
from typing import Final

from reconciler.plan.comparison import Comparison, ConnectorAcross, FieldAcross, comparison_document
from reconciler.plan.diff import format_value
from reconciler.plan.setup import needed_secrets
from reconciler.render import policy, setup
from reconciler.render.escape import json_text, markdown, terminal

_VALUE_LIMIT: Final = 200


def render(comparison: Comparison, output_format: str) -> str:
    if output_format == "json":
        text = json.dumps(comparison_document(comparison), indent=2, ensure_ascii=False)
        return json_text(text) + "\n"
    if output_format == "markdown":
        return render_markdown(comparison)
    return render_text(comparison)


def _headline(comparison: Comparison) -> str:
    names = ", ".join(comparison.environments)
    return (
        f"Plans across environments {names}: {comparison.differences} connector(s) differ "
        f"between them, {len(comparison.connectors) - comparison.differences} change the same "
        f"way in each, {comparison.same} the same everywhere and unchanged."
    )


def _marks(field: FieldAcross, env: str) -> str:
    marks = []
    if env in field.changed_in:
        marks.append("planned here")
    if env in field.overridden_in:
        marks.append("override")
    return f"  ({', '.join(marks)})" if marks else ""


def _actions(c: ConnectorAcross) -> str:
    return " · ".join(f"{env}: {action}" for env, action in c.actions.items())


# --- text -------------------------------------------------------------------------


def render_text(comparison: Comparison) -> str:
    lines = [_headline(comparison)]
    for env, plan in comparison.plans.items():
        lines.append(f"  {env}: {plan.summary_text}")
    for env, plan in comparison.plans.items():
        lines += [f"  {env}: {setup.sentence(n, env)}" for n in needed_secrets(plan)]
    for env, plan in comparison.plans.items():
        broken = policy.text_lines(plan)  # ["", headline, violation lines…] or []
        if broken:
            lines += ["", f"{env}: {broken[1]}", *broken[2:]]
    width = max(len(env) for env in comparison.environments) + 1
    for c in comparison.connectors:
        symbol = "~" if c.differs else "="
        lines += ["", f"{symbol} {c.name}   {_actions(c)}"]
        for f in c.fields:
            lines.append(f"    {f.path}{'' if f.differs else '  (same everywhere)'}")
            for env in comparison.environments:
                value = format_value(f.values[env], _VALUE_LIMIT)
                lines.append(f"        {env + ':':<{width}} {value}{_marks(f, env)}")
    return "".join(terminal(line) + "\n" for line in lines)


# --- Markdown -----------------------------------------------------------------------


def _code(text: str) -> str:
    return "<code>" + markdown(text) + "</code>"


def render_markdown(comparison: Comparison) -> str:
    envs = comparison.environments
    out = ["## cxrecon plan across environments", "", markdown(_headline(comparison)), ""]
    out += ["| Environment | Plan |", "|---|---|"]
    out += [
        f"| {_code(env)} | {markdown(plan.summary_text)} |"
        for env, plan in comparison.plans.items()
    ]
    needs = [(env, n) for env, plan in comparison.plans.items() for n in needed_secrets(plan)]
    if needs:
        out += ["", "**Setup this merge needs:**", ""]
        out += [f"- {_code(env)}: {setup.markdown_sentence(n, env)}" for env, n in needs]
    for env, plan in comparison.plans.items():
        section = policy.markdown_section(plan)  # ["### Policy", …, ""] or []
        if section:
            out += ["", f"### Policy in {_code(env)}", *section[1:-1]]
    if comparison.connectors:
        out += ["", "| Connector | " + " | ".join(_code(e) for e in envs) + " |"]
        out.append("|---|" + "---|" * len(envs))
        for c in comparison.connectors:
            cells = " | ".join(markdown(c.actions[e]) for e in envs)
            out.append(f"| {_code(c.name)} | {cells} |")
    for c in comparison.connectors:
        if not c.fields:
            continue
        out += [
            "",
            f"<details><summary>{markdown(c.name)} — {len(c.fields)} field(s)</summary>",
            "",
        ]
        out.append("| Field | " + " | ".join(_code(e) for e in envs) + " |")
        out.append("|---|" + "---|" * len(envs))
        for f in c.fields:
            cells = " | ".join(
                _code(format_value(f.values[e], _VALUE_LIMIT)) + markdown(_marks(f, e))
                for e in envs
            )
            out.append(f"| {_code(f.path)} | {cells} |")
        out += ["", "</details>"]
    out += [
        "",
        "_“planned here”: that environment's plan writes the field; “override”: its value comes "
        "from the environment's overrides in cxrecon.yaml._",
    ]
    return "\n".join(out) + "\n"
