"""A secret reference — `${env:NAME}` or `${file:PATH}` as a credential's whole value — and
what one may reach: never cxrecon's or its CI runner's own credentials (by variable name),
never a file outside the project folder or inside `.git` (links resolved). Checked by
`validate` (reconciler.load.refs) and again when resolving (reconciler.load.secret_lookup).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Final

from reconciler.config.settings import is_reserved_variable as is_reserved_variable

#: An environment variable's name as a reference may write it.
ENV_NAME: Final = r"[A-Za-z_][A-Za-z0-9_]*"
#: A whole value that is one secret reference: group 1 the variable, group 2 the file.
SECRET_REF: Final = re.compile(rf"^\$\{{(?:env:({ENV_NAME})|file:([^}}]+))\}}$")
#: Every secret reference inside a longer text (after ${var:} substitution).
_SECRET_REFS: Final = re.compile(rf"\$\{{(?:env:({ENV_NAME})|file:([^}}]+))\}}")
#: Control characters have no business in a file name (and NUL would make open() raise).
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


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
