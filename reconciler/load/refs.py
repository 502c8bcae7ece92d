"""References inside desired state: `${env:NAME}` / `${file:PATH}` secrets (resolved only at
apply time) and `${var:NAME}` per-environment values (substituted when loading).

A secret-bearing field (clientSecret, password, apiKey, …) must hold exactly one secret
reference; a literal there is an error, so a secret can never be committed by mistake.
Every other credential field (clientId, tokenEndpoint, username, …) may hold a literal,
`${var:}` text or, as its whole value, one `${env:}` / `${file:}` reference: the API never
returns credential values, so a plan cannot compare them anyway, and many teams keep client
ids in their CI secret store. Outside `authentication.credentials` a value must be known
when planning: `${env:}` / `${file:}` are refused there. What a reference may reach is
bounded: `${file:}` stays inside the project folder (links
resolved, `.git` excluded) and `${env:}` never names cxrecon's own credentials — checked by
`validate` and again when resolving.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Final

from reconciler.config.settings import SETTING_NAMES
from reconciler.errors import SecretResolutionError
from reconciler.secret import Secret

_ENV_NAME: Final = r"[A-Za-z_][A-Za-z0-9_]*"
_VAR_NAME: Final = r"[A-Za-z_][A-Za-z0-9_.-]*"
#: Every `${...}` not preceded by a `$` (`$${` writes a literal `${`).
_ANY_REF: Final = re.compile(r"(?<!\$)\$\{([^}]*)\}")
#: Like _ANY_REF, but also matching a `${` that is never closed (group 2 empty): the body
#: stops at the next `{`, `}` or `${`, so `${var:a ${var:b}` is one bad and one good ref.
_REF_OR_OPEN: Final = re.compile(r"(?<!\$)\$\{((?:[^{}$]|\$(?!\{))*)(\}?)")
#: A whole value that is one reference missing its `}` (e.g. `${env:NAME`).
_UNCLOSED_REF: Final = re.compile(r"\$\{[^{}$]*")
_SECRET_REF: Final = re.compile(rf"^\$\{{(?:env:({_ENV_NAME})|file:([^}}]+))\}}$")
_VAR_REF: Final = re.compile(rf"^var:({_VAR_NAME})$")
_ENV_REF: Final = re.compile(rf"^env:({_ENV_NAME})$")
_FILE_REF: Final = re.compile(r"^file:(.+)$")
#: Every secret reference inside a longer text (after ${var:} substitution).
_SECRET_REFS: Final = re.compile(rf"\$\{{(?:env:({_ENV_NAME})|file:([^}}]+))\}}")
#: Control characters have no business in a file name (and NUL would make open() raise).
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")

#: Prefixes of environment variables that hold cxrecon's own or its CI runner's credentials:
#: the CXone connection settings, GitHub's (GitHub refuses user secrets named GITHUB_*) and
#: the Actions runner's (ACTIONS_ID_TOKEN_REQUEST_TOKEN, ACTIONS_RUNTIME_TOKEN).
RESERVED_ENV_PREFIXES: Final = ("CXONE_", "GITHUB_", "ACTIONS_")
#: Variables cxrecon reads, by name: every connection setting, the embedded emulator's
#: client secret, and the GitHub CLI's tokens.
RESERVED_ENV_NAMES: Final = frozenset(
    {env for env, _ in SETTING_NAMES.values()}
    | {"CXRECON_EMULATOR_CLIENT_SECRET", "GITHUB_TOKEN", "GH_TOKEN", "GH_ENTERPRISE_TOKEN"}
)
#: The largest secret file read (a PEM private key is ~3 KiB).
MAX_SECRET_FILE_BYTES: Final = 64 * 1024
#: Opening never waits on a named pipe and never follows a link the checks did not see.
_OPEN_FLAGS: Final = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


@dataclass(frozen=True, slots=True)
class RefProblem:
    """A reference that is malformed, misplaced or unknown (no location: the caller has it)."""

    rule: str
    message: str


class RefusedReferenceError(SecretResolutionError):
    """A reference cxrecon will not resolve whatever the environment holds (a file outside
    the project, cxrecon's own credentials): never replaced by an emulator placeholder."""


def is_reserved_variable(name: str) -> bool:
    """True for an environment variable holding cxrecon's or its CI runner's credentials."""
    upper = name.upper()  # Windows environment names are case-insensitive
    return upper in RESERVED_ENV_NAMES or upper.startswith(RESERVED_ENV_PREFIXES)


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
    return _SECRET_REF.match(value) is not None


def check_secret_field(key: str, value: Any, root: Path | None = None) -> RefProblem | None:
    """The value of a secret-bearing field must be exactly one secret reference, to a
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
    """A credential that is not secret-bearing (clientId, tokenEndpoint, username, …): one
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
        if var is not None:
            name = var.group(1)
            if not project_file and (variables is None or name not in variables):
                problems.append(
                    RefProblem(
                        "unknown-var",
                        f"${{var:{name}}} needs a value, but there is no cxrecon.yaml; create "
                        f"it with an environment holding `vars: {{{name}: …}}`, e.g. "
                        f"`defaultEnvironment: dev` and "
                        f"`environments: {{dev: {{vars: {{{name}: …}}}}}}`",
                    )
                )
            elif variables is None:
                problems.append(
                    RefProblem(
                        "unknown-var",
                        f"${{var:{name}}} needs an environment; pass -e NAME or set "
                        "defaultEnvironment in cxrecon.yaml",
                    )
                )
            elif name not in variables:
                known = ", ".join(sorted(variables)) or "none"
                problems.append(
                    RefProblem(
                        "unknown-var",
                        f"unknown variable '{name}' (defined: {known}); add it under "
                        "the environment's `vars` in cxrecon.yaml",
                    )
                )
            else:
                return variables[name]
            return match.group(0)
        if (_ENV_REF.match(body) or _FILE_REF.match(body)) and credential:
            problems.append(
                RefProblem(
                    "secret-ref-misplaced",
                    f"'{key}' may be a ${{{body.split(':')[0]}:}} reference only as its whole "
                    "value (apply resolves a credential as a whole); write exactly one "
                    "${env:NAME} or ${file:PATH}, or use ${var:NAME} for text that differs "
                    "per environment",
                )
            )
        elif _ENV_REF.match(body) or _FILE_REF.match(body):
            problems.append(
                RefProblem(
                    "secret-ref-misplaced",
                    f"'{key}' is not a secret field, so it cannot use ${{{body.split(':')[0]}:}} "
                    "(references are resolved only at apply time, and outside "
                    "authentication.credentials plans need this value); use ${var:NAME} for "
                    "per-environment values",
                )
            )
        else:
            problems.append(
                RefProblem(
                    "ref-syntax",
                    f"'${{{body}}}' is not a reference cxrecon knows; use ${{var:NAME}}, "
                    "${env:NAME} or ${file:PATH} (write $${ for a literal ${)",
                )
            )
        return match.group(0)

    substituted = _REF_OR_OPEN.sub(replace, value)
    return substituted.replace("$${", "${"), problems


def resolve_secret(value: str, environ: Mapping[str, str], base_dir: Path) -> Secret:
    """Resolve one `${env:NAME}` / `${file:PATH}` reference; `base_dir` is the project folder,
    which PATH is relative to and must stay inside.

    Raises SecretResolutionError naming the variable or file, never a value;
    RefusedReferenceError for cxrecon's own variables and files out of the project.
    """
    match = _SECRET_REF.match(value)
    if match is None:
        raise SecretResolutionError(
            "a secret-bearing field does not hold a ${env:NAME} or ${file:PATH} reference; "
            "run `cxrecon validate` to find it"
        )
    env_name, file_name = match.groups()
    if env_name is not None:
        if is_reserved_variable(env_name):
            raise RefusedReferenceError(reserved_variable_message(env_name))
        resolved = environ.get(env_name)
        if not resolved:
            state = "is empty" if resolved == "" else "is not set"
            raise SecretResolutionError(
                f"environment variable {env_name} {state}; export it (or add it to the CI "
                "job's secrets) before applying"
            )
        return Secret(resolved)
    refused = file_reference_problem(file_name, base_dir)
    if refused is not None:
        raise RefusedReferenceError(refused)
    path = Path(os.path.realpath(Path(os.path.realpath(base_dir)) / file_name))
    shown = file_name
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise SecretResolutionError(f"secret file {shown} is not a regular file")
        if info.st_size > MAX_SECRET_FILE_BYTES:
            raise SecretResolutionError(
                f"secret file {shown} is {info.st_size:,} bytes, over the "
                f"{MAX_SECRET_FILE_BYTES:,}-byte limit for a secret"
            )
        descriptor = os.open(path, _OPEN_FLAGS)
        with os.fdopen(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise SecretResolutionError(f"secret file {shown} is not a regular file")
            raw = handle.read(MAX_SECRET_FILE_BYTES + 1)
        if len(raw) > MAX_SECRET_FILE_BYTES:
            raise SecretResolutionError(f"secret file {shown} is over the size limit")
        content = raw.decode("utf-8")
    except FileNotFoundError:
        raise SecretResolutionError(f"secret file {shown} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        # The exception text names the file and the reason, never the content.
        raise SecretResolutionError(
            f"cannot read secret file {shown}: {type(exc).__name__}"
        ) from None
    # Mounted secret files (Kubernetes, Docker, `echo > file`) end with a newline.
    content = content.rstrip("\r\n")
    if not content:
        raise SecretResolutionError(f"secret file {shown} is empty")
    return Secret(content)


#: What a missing secret becomes against the emulator (never against a real tenant).
PLACEHOLDER_PREFIX: Final = "cxrecon-fake-placeholder-for-emulator"


class SecretLookup:
    """Resolves `${env:}` / `${file:}` references for one run; a literal resolves to itself.

    The one way secrets are resolved: planning asks for them (to compare credential
    fingerprints) and apply asks right before a body that carries them is built. Every
    value resolved is passed to `register` (the audit log masks it wherever it might
    surface). Against the emulator (`emulated`), a reference that cannot be resolved becomes
    a clearly fake placeholder, with one warning for the whole run, so a first try needs no
    secrets; against a real tenant it is an error naming the variable or file.
    """

    def __init__(
        self,
        environ: Mapping[str, str],
        base_dir: Path,
        *,
        emulated: bool = False,
        warn: Callable[[str], None] | None = None,
        register: Callable[[Secret], None] | None = None,
    ) -> None:
        self._environ = environ
        self._base_dir = base_dir
        self._emulated = emulated
        self._warn = warn
        self._register = register
        #: References replaced by placeholders so far (`env:NAME`, `file:PATH`).
        self.placeholders: list[str] = []

    def __call__(self, value: str) -> str:
        if not is_secret_reference(value):
            return value
        try:
            secret = resolve_secret(value, self._environ, self._base_dir)
        except RefusedReferenceError:
            raise  # not a missing secret: a placeholder would hide the mistake
        except SecretResolutionError:
            if not self._emulated:
                raise
            secret = self._placeholder(value)
        if self._register is not None:
            self._register(secret)
        return secret.reveal()

    def resolve_all(self, credentials: Mapping[str, str]) -> dict[str, str]:
        """Every value in plain form; one SecretResolutionError naming every reference that
        cannot be resolved (names only, never a value)."""
        plain: dict[str, str] = {}
        failures: list[str] = []
        for key, value in credentials.items():
            try:
                plain[key] = self(value)
            except SecretResolutionError as exc:
                failures.append(f"{key}: {exc}")
        if failures:
            raise SecretResolutionError("cannot resolve credentials: " + "; ".join(failures))
        return plain

    def _placeholder(self, value: str) -> Secret:
        match = _SECRET_REF.match(value)
        env_name, file_name = match.groups() if match else (None, None)
        what = f"env:{env_name}" if env_name else f"file:{file_name}"
        if what not in self.placeholders:
            self.placeholders.append(what)
            if len(self.placeholders) == 1 and self._warn is not None:
                kind = "environment variable" if env_name else "secret file"
                self._warn(
                    f"warning: {kind} {env_name or file_name} is not available; secrets "
                    "missing here get fake placeholder values because the target is the "
                    "emulator (said once per run)"
                )
        return Secret(f"{PLACEHOLDER_PREFIX}:{what}")
