"""The GitHub workflows `cxrecon init` writes into a connectors repository: plan on pull
requests, the reviewed plan applied on merge, drift on a schedule, made for its environments.

The templates ship as package data (reconciler/templates/workflows/) and never run in cxrecon's
own repository. `render_workflows` fills in the environments and exactly the secrets the
connector files reference (`SecretUse`); pure, no I/O beyond reading the templates.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import PurePosixPath
from typing import Final

from reconciler.errors import ConfigError

#: The workflow files, in the order they are written and listed.
WORKFLOW_FILES: Final = ("plan.yml", "apply.yml", "apply-environment.yml", "drift.yml")
#: Where they go in the repository.
WORKFLOW_DIR: Final = ".github/workflows"
_TEMPLATES: Final = "reconciler.templates"
#: A GitHub job id: a letter or `_`, then letters, digits, `-`, `_`.
_JOB_ID_BAD: Final = re.compile(r"[^A-Za-z0-9_-]")
#: A GitHub secret name: letters, digits, `_`; not starting with a digit or GITHUB_.
_SECRET_BAD: Final = re.compile(r"[^A-Z0-9_]+")
#: A variable name the runner's bash accepts (an ${env:NAME} reference must be one).
_SHELL_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Plain words a YAML 1.1 reader turns into a boolean or null.
_YAML_WORDS: Final = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"})
_JOB: Final = """  {job}:
{needs}    permissions:
      actions: read # the reviewed plan and the audit history: runs and artifacts
      contents: read
      pull-requests: read # the merged pull request's approval label
    # `$/`: this repository at the commit of this run (GitHub's self-repository syntax; on a
    # GitHub Enterprise Server without it, write ./.github/workflows/apply-environment.yml).
    uses: $/.github/workflows/apply-environment.yml
    with:
      environment: {environment}
"""


@dataclass(frozen=True, order=True)
class SecretUse:
    """One `${env:NAME}` / `${file:PATH}` reference the connectors of an environment make."""

    kind: str  # "env" or "file"
    name: str  # the variable name, or the file's path relative to cxrecon.yaml

    @property
    def text(self) -> str:
        return "${" + self.kind + ":" + self.name + "}"


def secret_name(use: SecretUse, taken: Iterable[str] = ()) -> str:
    """The GitHub secret holding `use`'s value: the variable's name, upper-case (GitHub's
    secret names are), or for a file its name (`.secrets/dynamics-client-secret` →
    DYNAMICS_CLIENT_SECRET); prefixed with CXRECON_ where GitHub would refuse the name, and
    with the file's folders when another secret has that name already."""
    if use.kind == "env":
        base = use.name.upper()
    else:
        parts = [p for p in PurePosixPath(use.name).parts if p not in ("/", ".", "..")]
        base = _SECRET_BAD.sub("_", (parts[-1] if parts else "SECRET").upper()).strip("_")
        taken = set(taken)
        if base in taken and len(parts) > 1:
            base = _SECRET_BAD.sub("_", "_".join(parts).upper()).strip("_")
    if not base or base[0].isdigit() or base.startswith("GITHUB_"):
        base = f"CXRECON_{base}"
    return base


def render_workflows(
    environments: Sequence[str],
    secrets: Mapping[str, Iterable[SecretUse]],
    *,
    connectors: str = "connectors/",
    notifications: Iterable[str] = (),
) -> dict[str, str]:
    """File name → text of every workflow, for `environments` (applied in this order) whose
    connectors reference `secrets` (by environment name), the apply and drift steps given
    the `notifications` variables (`${env:NAME}` parts of `notifications:` URLs).
    ConfigError for a name a workflow cannot carry."""
    if not environments:
        raise ConfigError("cxrecon init needs at least one environment: pass -e NAME")
    for name in environments:
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name):
            raise ConfigError(
                f"environment {name!r} cannot name a GitHub environment; use letters, digits, "
                "'.', '_' and '-' (at most 64)"
            )
    uses = sorted({use for env in environments for use in secrets.get(env, ())})
    told = sorted({SecretUse("env", name) for name in notifications})
    for use in (*uses, *told):
        if use.kind == "env" and not _SHELL_NAME.fullmatch(use.name):
            raise ConfigError(
                f"{use.text} cannot be passed to a workflow step: a variable name is letters, "
                "digits and '_', not starting with a digit; rename it in the connector file"
            )
    names = secret_names(uses)
    fill = {
        "__CXRECON_ENVIRONMENT_LIST__": ", ".join(environments),
        "__CXRECON_PLAN_ENVIRONMENT_LIST__": ", ".join(f"{e}-plan" for e in environments),
        "__CXRECON_ENVIRONMENT_ORDER__": " → ".join(environments),
        "__CXRECON_ENVIRONMENTS__": "[" + ", ".join(_yaml_word(e) for e in environments) + "]",
        "__CXRECON_CONNECTORS__": connectors.removeprefix("./"),
        "__CXRECON_APPLY_JOBS__": _apply_jobs(environments),
        "__CXRECON_SECRETS_BY_ENVIRONMENT__": _secrets_comment(environments, secrets, names),
    }
    out = {}
    for file in WORKFLOW_FILES:
        text = _template(file)
        text = _fill_block(text, "__CXRECON_SECRET_ENV__", _secret_env(uses, names))
        text = _fill_block(text, "__CXRECON_NOTIFY_ENV__", _notify_env(told))
        text = _fill_block(text, "__CXRECON_SECRET_FILES__", _secret_files(uses, names))
        text = _fill_block(text, "__CXRECON_SECRET_FILES_REMOVED__", _removals(uses))
        for key, value in fill.items():
            text = text.replace(key, value)
        out[file] = text
    return out


def _template(file: str) -> str:
    return (resources.files(_TEMPLATES) / "workflows" / file).read_text(encoding="utf-8")


def _fill_block(text: str, marker: str, lines: Sequence[str]) -> str:
    """Replace the line holding `marker` by `lines` at its indentation (none: the line goes)."""
    match = re.search(rf"^( *){marker}\n", text, flags=re.MULTILINE)
    if match is None:
        return text
    indent = match[1]
    block = "".join(f"{indent}{line}\n" if line else "\n" for line in lines)
    return text[: match.start()] + block + text[match.end() :]


def secret_names(uses: Iterable[SecretUse]) -> dict[SecretUse, str]:
    """The GitHub secret of each reference (`secret_name`), distinct from one another."""
    names: dict[SecretUse, str] = {}
    for use in sorted(uses, key=lambda u: (u.kind != "env", u.name)):
        name = secret_name(use, names.values())
        while name in names.values():
            name += "_FILE"
        names[use] = name
    return names


def _secret_env(uses: Sequence[SecretUse], names: Mapping[SecretUse, str]) -> list[str]:
    if not uses:
        return ["# (none yet: no connector file references a secret)"]
    lines = []
    for use in uses:
        # ${env:NAME} needs the variable NAME itself; a file's value passes under its secret's
        # name and the script writes it to the file.
        variable = use.name if use.kind == "env" else names[use]
        lines.append(f"{variable}: ${{{{ secrets.{names[use]} }}}}")
    return lines


def _notify_env(told: Sequence[SecretUse]) -> list[str]:
    """The notification variables, each from the GitHub secret of its name (upper-case)."""
    if not told:
        return ["# (none yet: e.g. TEAMS_WEBHOOK_URL from the secret of that name)"]
    names = secret_names(told)
    return [f"{use.name}: ${{{{ secrets.{names[use]} }}}}" for use in told]


def _secret_files(uses: Sequence[SecretUse], names: Mapping[SecretUse, str]) -> list[str]:
    lines = []
    for use in uses:
        if use.kind != "file":
            continue
        path = shlex.quote(use.name)
        parent = str(PurePosixPath(use.name).parent)
        if parent != ".":
            lines.append(f"mkdir -p {shlex.quote(parent)}")
        lines.append(f"printf '%s' \"${names[use]}\" > {path}")
    return lines or ["# (no ${file:PATH} references)"]


def _removals(uses: Sequence[SecretUse]) -> list[str]:
    files = [shlex.quote(use.name) for use in uses if use.kind == "file"]
    return [f"rm -f {' '.join(files)}"] if files else []


def _apply_jobs(environments: Sequence[str]) -> str:
    jobs: list[str] = []
    ids: list[str] = []
    for environment in environments:
        job = _job_id(environment, ids)
        needs = ""
        if ids:
            needs = (
                "    # No status function in an `if:` here: only a successful "
                f"{ids[-1]} job lets this one run.\n    needs: {ids[-1]}\n"
            )
        jobs.append(_JOB.format(job=job, needs=needs, environment=_yaml_word(environment)))
        ids.append(job)
    return "\n".join(jobs).rstrip("\n")


def _job_id(environment: str, taken: Sequence[str]) -> str:
    job = _JOB_ID_BAD.sub("-", environment)
    # A job id starts with a letter or `_`, and is no word a YAML 1.1 reader takes for a
    # boolean or null (`on`, `no`): every reader sees the same key.
    if not (job[0].isalpha() or job[0] == "_") or job.lower() in _YAML_WORDS:
        job = f"env-{job}"
    base, n = job, 2
    while job in taken:
        job, n = f"{base}-{n}", n + 1
    return job


def _secrets_comment(
    environments: Sequence[str],
    secrets: Mapping[str, Iterable[SecretUse]],
    names: Mapping[SecretUse, str],
) -> str:
    lines = []
    for environment in environments:
        used = sorted(set(secrets.get(environment, ())))
        listed = ", ".join(
            names[u] if u.kind == "env" else f"{names[u]} (written to {u.name})" for u in used
        )
        lines.append(f"#              {environment}: {listed or 'none yet'}")
    return "\n".join(lines)


def _yaml_word(value: str) -> str:
    """`value` as a YAML flow scalar: plain when YAML reads it back as that string."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9._-]*", value) and value.lower() not in _YAML_WORDS:
        return value
    return '"' + value + '"'
