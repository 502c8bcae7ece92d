"""References in connector files — `${var:NAME}` (per-environment text, substituted when
loading), `${env:NAME}` and `${file:PATH}` (secrets, resolved at apply time by
reconciler.load.secret_lookup) — their syntax, where each may stand and what one may reach.

A secret field (one the connector schema marks `writeOnly`: clientSecret, password, apiKey;
reconciler.secret) must hold exactly one secret reference; a literal there is an error, so a
secret can never be committed by mistake. Every other credential field (clientId,
tokenEndpoint, username, …) may hold a literal, `${var:}` text or, as its whole value, one
`${env:}` / `${file:}` reference. A literal is best: CXone returns these values, so a plan
compares and shows them; a reference is compared by the credentials fingerprint only (its
value is known at apply time). Outside `authentication.credentials` a value must be known
when planning: `${env:}` / `${file:}` are refused there. What a reference may reach is
bounded: `${file:}` stays inside the project folder (links resolved, `.git` excluded) and
`${env:}` never names cxrecon's or its CI runner's own credentials — checked by `validate`
and again when resolving.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Final

from reconciler.config.settings import is_reserved_variable

#: An environment variable's name as a reference may write it.
ENV_NAME: Final = r"[A-Za-z_][A-Za-z0-9_]*"
#: A whole value that is one secret reference: group 1 the variable, group 2 the file.
SECRET_REF: Final = re.compile(rf"^\$\{{(?:env:({ENV_NAME})|file:([^}}]+))\}}$")
#: Every secret reference inside a longer text (after ${var:} substitution).
_SECRET_REFS: Final = re.compile(rf"\$\{{(?:env:({ENV_NAME})|file:([^}}]+))\}}")
#: Control characters have no business in a file name (and NUL would make open() raise).
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: The name in a `${var:NAME}` reference.
_VAR_NAME: Final = r"[A-Za-z_][A-Za-z0-9_.-]*"
#: Every `${...}` not preceded by a `$` (`$${` writes a literal `${`).
_ANY_REF: Final = re.compile(r"(?<!\$)\$\{([^}]*)\}")
#: Like _ANY_REF, but also matching a `${` that is never closed (group 2 empty): the body
#: stops at the next `{`, `}` or `${`, so `${var:a ${var:b}` is one bad and one good ref.
_REF_OR_OPEN: Final = re.compile(r"(?<!\$)\$\{((?:[^{}$]|\$(?!\{))*)(\}?)")
#: A whole value that is one reference missing its `}` (e.g. `${env:NAME`).
_UNCLOSED_REF: Final = re.compile(r"\$\{[^{}$]*")
_VAR_REF: Final = re.compile(rf"^var:({_VAR_NAME})$")
_ENV_REF: Final = re.compile(rf"^env:({ENV_NAME})$")
_FILE_REF: Final = re.compile(r"^file:(.+)$")


@dataclass(frozen=True, slots=True)
class RefProblem:
    """A reference that is malformed, misplaced or unknown (no location: the caller has it)."""

    rule: str
    message: str


def reserved_variable_message(name: str) -> str:
    return (
        f"${{env:{name}}} is one of cxrecon's own credentials or settings (or the CI "
        "runner's); a connector must never be given them, since CXone would present them to "
        "the connector's endpoint. Give the connector a variable of its own, e.g. "
        "${env:CRM_API_KEY}"
    )


def file_reference_problem(name: str, root: Path) -> str | None:
    """Why `${file:NAME}` may not be read with `root` as the project folder, or None.

    The path is relative to the project folder and, with every symbolic link resolved,
    must stay inside it and out of `.git` (which holds the repository's credentials, such
    as the token actions/checkout keeps). A path that does not exist yet is fine here.
    """
    if _CONTROL.search(name):
        return f"${{file:}} path {name!r} holds a control character"
    if PurePath(name).is_absolute() or name.startswith(("/", "\\")):
        why = "is an absolute path"
    else:
        base = os.path.realpath(root)
        real = os.path.realpath(os.path.join(base, name))
        if not _within(real, base):
            leaves = not _within(os.path.normpath(os.path.join(base, name)), base)
            why = (
                "leaves the project folder"
                if leaves
                else "leads out of the project folder through a symbolic link"
            )
        elif any(p.lower() == ".git" for p in PurePath(os.path.relpath(real, base)).parts):
            return (
                f"${{file:{name}}} is inside .git, which holds the repository's own "
                "credentials; keep secret files elsewhere, e.g. ${file:.secrets/NAME} "
                "(git-ignored)"
            )
        else:
            return None
    return (
        f"${{file:{name}}} {why}; secret files are read only from inside the project folder "
        "(the folder of cxrecon.yaml), e.g. ${file:.secrets/NAME} (git-ignored)"
    )


def _within(path: str, folder: str) -> bool:
    try:
        return os.path.commonpath([folder, path]) == folder
    except ValueError:  # different drives
        return False


def reference_target_problems(value: str, root: Path | None) -> list[RefProblem]:
    """What every `${env:}` / `${file:}` in `value` may not reach (see the module doc);
    `root` None skips the file checks."""
    problems: list[RefProblem] = []
    if "${" not in value:
        return problems
    for env_name, file_name in _SECRET_REFS.findall(value):
        if env_name and is_reserved_variable(env_name):
            problems.append(
                RefProblem("ref-reserved-variable", reserved_variable_message(env_name))
            )
        elif file_name and root is not None:
            why = file_reference_problem(file_name, root)
            if why is not None:
                problems.append(RefProblem("ref-outside-project", why))
    return problems


def is_secret_reference(value: str) -> bool:
    """True when `value` is exactly one `${env:NAME}` or `${file:PATH}` reference."""
    return SECRET_REF.match(value) is not None


def check_secret_field(key: str, value: Any, root: Path | None = None) -> RefProblem | None:
    """The value of a secret (writeOnly) field must be exactly one secret reference, to a
    variable that is not cxrecon's own and (with `root`, the project folder) to a file
    inside the project."""
    if not isinstance(value, str):
        return None  # the schema reports the wrong type
    if is_secret_reference(value):
        problems = reference_target_problems(value, root)
        return problems[0] if problems else None
    if "${var:" in value:
        return RefProblem(
            "secret-in-var",
            f"'{key}' is secret but references ${{var:}}, whose values are committed in "
            f"cxrecon.yaml; use ${{env:NAME}} or ${{file:PATH}}",
        )
    if _ANY_REF.fullmatch(value) or _UNCLOSED_REF.fullmatch(value):
        # A mistyped or unclosed reference, not a pasted secret: say so, without echoing it.
        return RefProblem(
            "ref-syntax",
            f"'{key}' holds a malformed reference; write exactly one ${{env:NAME}} (NAME: "
            "letters, digits and _, not starting with a digit) or ${file:PATH}",
        )
    return RefProblem(
        "secret-literal",
        f"'{key}' holds a literal secret; replace it with a reference such as "
        f"${{env:{_suggest_env_name(key)}}} or ${{file:PATH}} (and rotate the secret if it "
        "was ever committed)",
    )


def check_credential_field(
    key: str,
    value: str,
    variables: Mapping[str, str] | None,
    *,
    project_file: bool = True,
    root: Path | None = None,
) -> tuple[str, list[RefProblem]]:
    """A credential that is not secret (clientId, tokenEndpoint, username, …): one
    whole `${env:}` / `${file:}` reference (kept as it is: apply resolves it, a plan uses it
    when the value is available), or a value with `${var:}` substituted. A reference that is
    only part of the value is refused: a credential is resolved as a whole."""
    if is_secret_reference(value):
        return value, reference_target_problems(value, root)
    new, problems = substitute_vars(
        key, value, variables, project_file=project_file, credential=True
    )
    if not problems:
        problems = reference_target_problems(new, root)
    return new, problems


def _suggest_env_name(key: str) -> str:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key)
    return re.sub(r"[^A-Za-z0-9]+", "_", snake).upper().strip("_") or "SECRET"


def substitute_vars(
    key: str,
    value: str,
    variables: Mapping[str, str] | None,
    *,
    project_file: bool = True,
    credential: bool = False,
) -> tuple[str, list[RefProblem]]:
    """Replace every `${var:NAME}` in a non-secret string; report other references here.

    `variables is None` means no environment is selected. `$${` stays a literal `${`.
    `project_file` says whether cxrecon.yaml exists (the advice for an unknown var differs).
    `credential`: the string is a credential value, where `${env:}` / `${file:}` may be the
    whole value (check_credential_field) but not a part of it.
    """
    problems: list[RefProblem] = []
    if "${" not in value:
        return value, problems

    def replace(match: re.Match[str]) -> str:
        body = match.group(1)
        if not match.group(2):
            problems.append(
                RefProblem(
                    "ref-syntax",
                    f"'${{{body}' is not closed; add the missing '}}' (write $${{ for a "
                    "literal ${)",
                )
            )
            return match.group(0)
        var = _VAR_REF.match(body)
        if var is None:
            problems.append(_not_a_var(key, body, credential=credential))
            return match.group(0)
        found = _var_value(var.group(1), variables, project_file=project_file)
        if isinstance(found, RefProblem):
            problems.append(found)
            return match.group(0)
        return found

    substituted = _REF_OR_OPEN.sub(replace, value)
    return substituted.replace("$${", "${"), problems


def _var_value(
    name: str, variables: Mapping[str, str] | None, *, project_file: bool
) -> str | RefProblem:
    """The value of `${var:NAME}`, or why there is none."""
    if not project_file and (variables is None or name not in variables):
        return RefProblem(
            "unknown-var",
            f"${{var:{name}}} needs a value, but there is no cxrecon.yaml; create "
            f"it with an environment holding `vars: {{{name}: …}}`, e.g. "
            f"`defaultEnvironment: dev` and "
            f"`environments: {{dev: {{vars: {{{name}: …}}}}}}`",
        )
    if variables is None:
        return RefProblem(
            "unknown-var",
            f"${{var:{name}}} needs an environment; pass -e NAME or set "
            "defaultEnvironment in cxrecon.yaml",
        )
    if name not in variables:
        known = ", ".join(sorted(variables)) or "none"
        return RefProblem(
            "unknown-var",
            f"unknown variable '{name}' (defined: {known}); add it under "
            "the environment's `vars` in cxrecon.yaml",
        )
    return variables[name]


def _not_a_var(key: str, body: str, *, credential: bool) -> RefProblem:
    """Why `${BODY}`, not a `${var:}`, may not stand inside the value of `key`."""
    if (_ENV_REF.match(body) or _FILE_REF.match(body)) and credential:
        return RefProblem(
            "secret-ref-misplaced",
            f"'{key}' may be a ${{{body.split(':')[0]}:}} reference only as its whole "
            "value (apply resolves a credential as a whole); write exactly one "
            "${env:NAME} or ${file:PATH}, or use ${var:NAME} for text that differs "
            "per environment",
        )
    if _ENV_REF.match(body) or _FILE_REF.match(body):
        return RefProblem(
            "secret-ref-misplaced",
            f"'{key}' is not a secret field, so it cannot use ${{{body.split(':')[0]}:}} "
            "(references are resolved only at apply time, and outside "
            "authentication.credentials plans need this value); use ${var:NAME} for "
            "per-environment values",
        )
    return RefProblem(
        "ref-syntax",
        f"'${{{body}}}' is not a reference cxrecon knows; use ${{var:NAME}}, "
        "${env:NAME} or ${file:PATH} (write $${ for a literal ${)",
    )
