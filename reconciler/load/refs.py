"""References where connector files write them (checked when loading) and `${var:NAME}`
per-environment values substituted; resolving secrets is reconciler.load.secret_lookup.

A secret field (one the connector schema marks `writeOnly`: clientSecret, password, apiKey;
reconciler.secret) must hold exactly one secret reference; a literal there is an error, so a
secret can never be committed by mistake. Every other credential field (clientId,
tokenEndpoint, username, …) may hold a literal, `${var:}` text or, as its whole value, one
`${env:}` / `${file:}` reference. A literal is best: CXone returns these values, so a plan
compares and shows them; a reference is compared by the credentials fingerprint only (its
value is known at apply time). Outside `authentication.credentials` a value must be known
when planning: `${env:}` / `${file:}` are refused there. What a reference may reach is
bounded (reconciler.load.secret_refs): `${file:}` stays inside the project folder (links
resolved, `.git` excluded) and `${env:}` never names cxrecon's own credentials — checked by
`validate` and again when resolving.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from reconciler.load.secret_lookup import SecretLookup
from reconciler.load.secret_refs import (
    ENV_NAME,
    RefProblem,
    is_reserved_variable,
    is_secret_reference,
    reference_target_problems,
)

#: Defined in reconciler.load.secret_refs and .secret_lookup; importable from here, where
#: their many callers import them.
__all__ = [
    "RefProblem",
    "SecretLookup",
    "check_credential_field",
    "check_secret_field",
    "is_reserved_variable",
    "is_secret_reference",
    "reference_target_problems",
    "substitute_vars",
]

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
