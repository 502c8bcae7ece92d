"""Resolving secret references (`${env:NAME}`, `${file:PATH}`) for one run: `SecretLookup`,
which planning asks to compare credential fingerprints and apply asks right before a body
that carries them is built; against the emulator a missing secret becomes a fake placeholder.
The references' syntax and what one may reach are reconciler.load.references.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

from reconciler.config.settings import is_reserved_variable
from reconciler.documents.regular import UnreadableFile, read_regular
from reconciler.errors import SecretResolutionError
from reconciler.load.references import (
    SECRET_REF,
    file_reference_problem,
    is_secret_reference,
    reserved_variable_message,
)
from reconciler.secret import Secret

MAX_SECRET_FILE_BYTES: Final = 64 * 1024


class RefusedReferenceError(SecretResolutionError):
    """A reference cxrecon will not resolve whatever the environment holds (a file outside
    the project, cxrecon's own credentials): never replaced by an emulator placeholder."""


def resolve_secret(value: str, environ: Mapping[str, str], base_dir: Path) -> Secret:
    """Resolve one `${env:NAME}` / `${file:PATH}` reference; `base_dir` is the project folder,
    which PATH is relative to and must stay inside.

    Raises SecretResolutionError naming the variable or file, never a value;
    RefusedReferenceError for cxrecon's own variables and files out of the project.
    """
    match = SECRET_REF.match(value)
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
    return _read_secret_file(file_name, base_dir)


def _unreadable(shown: str, exc: UnreadableFile) -> SecretResolutionError:
    if exc.mode is not None:
        return SecretResolutionError(f"secret file {shown} is not a regular file")
    if exc.size is not None:
        return SecretResolutionError(
            f"secret file {shown} is {exc.size:,} bytes, over the "
            f"{MAX_SECRET_FILE_BYTES:,}-byte limit for a secret"
        )
    return SecretResolutionError(f"secret file {shown} is over the size limit")


def _read_secret_file(file_name: str, base_dir: Path) -> Secret:
    """The content of `${file:FILE_NAME}`: a regular file inside the project, within the size
    limit, UTF-8, without its trailing newline, not empty."""
    refused = file_reference_problem(file_name, base_dir)
    if refused is not None:
        raise RefusedReferenceError(refused)
    path = Path(os.path.realpath(Path(os.path.realpath(base_dir)) / file_name))
    shown = file_name
    try:
        content = read_regular(path, MAX_SECRET_FILE_BYTES).decode("utf-8")
    except UnreadableFile as exc:
        raise _unreadable(shown, exc) from None
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
        match = SECRET_REF.match(value)
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
