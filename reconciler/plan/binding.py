"""What a saved plan is bound to (project, environment, tenant, connectors root, commit) and
the PATH it planned, checked against the project `apply --plan` runs in, never taken from it.

Threat model. A saved plan is an artifact: in the merge workflow it is produced by a
pull-request job, whose content (the branch's files, its cxrecon.yaml, even its workflow
files) is untrusted, and anyone who can push a branch can upload any file as that artifact.
What is trusted is the checkout `apply` runs in (the default branch: its cxrecon.yaml and
connector files) and the tenant's current state. So the plan file only *chooses and pins*:

- every change is rebuilt from the trusted checkout's files (reconciler.plan.saved), and
  the desired-state digest must match, so a plan cannot carry content of its own;
- the binding is compared with values computed from the trusted project (its `project:`
  identity, the environment's name, the tenant's base URL, the connectors root from its
  cxrecon.yaml); the plan's copy is never used to find a project, a folder or a tenant;
- the only path a plan holds (the PATH given to `plan`) is relative to the project root and
  must stay inside the connectors root: absolute paths, `..` and links out are refused.

The plan's sha256 checksum stays a plain one on purpose: it catches damage and careless
edits, not forgery. A keyed checksum (HMAC) would need its key in the job that writes plans,
and that job runs pull-request content: whoever can push a branch can read the key there, so
it would authenticate nothing; the binding checks above do not depend on any secret. The
commit is provenance: the reviewed plan of a merge is made at the pull request's (test-merge)
commit and applied at the merge commit, so a different commit is accepted while git holds
the same connector files (the digest decides) and named when they differ.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

from reconciler.errors import SavedPlanError

#: What `apply --plan` tells a user whose plan is bound elsewhere.
_REPLAN: Final = "run `cxrecon plan --out FILE` in this project and review that plan"
#: How the embedded emulator is named as a tenant (its port changes from run to run).
EMULATED_TENANT: Final = "embedded emulator (--emulator)"


@dataclass(frozen=True, slots=True)
class PlanBinding:
    """What a saved plan was made for. `connectors` is the connectors root relative to the
    project root (POSIX); `commit` the git HEAD of the checkout, None outside git."""

    project: str | None
    environment: str | None
    tenant: str
    connectors: str
    commit: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "project": self.project,
            "environment": self.environment,
            "tenant": self.tenant,
            "connectors": self.connectors,
            "commit": self.commit,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> PlanBinding:
        def text(key: str) -> str | None:
            value = raw.get(key)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"binding.{key} is not a string")
            return value

        tenant, connectors = text("tenant"), text("connectors")
        if not tenant or not connectors:
            raise ValueError("binding without tenant or connectors root")
        return cls(text("project"), text("environment"), tenant, connectors, text("commit"))


def tenant_of(base_url: str, discovery: str | None = None, *, emulated: bool = False) -> str:
    """The tenant as a binding names it: the API base URL (scheme and host lower-cased, no
    trailing slash), else the discovery document's address."""
    if emulated:
        return EMULATED_TENANT
    url = base_url or (f"discovery {discovery}" if discovery else "")
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/?#]*)(.*)$", url)
    if match:
        url = match.group(1).lower() + match.group(2)
    return url.rstrip("/") or "(no base URL)"


def connectors_root(root: Path, connectors_path: Path) -> str:
    """The connectors root relative to the project root; SavedPlanError when it leaves it
    (cxrecon.yaml says where connectors live, but a plan must never lead out of the project)."""
    try:
        relative = connectors_path.resolve().relative_to(root.resolve())
    except ValueError:
        raise SavedPlanError(
            f"the connectors root {connectors_path} is outside the project {root}; a saved "
            "plan only covers connectors inside the project: set `connectors:` in "
            "cxrecon.yaml to a folder inside it"
        ) from None
    return relative.as_posix() or "."


def git_commit(root: Path) -> str | None:
    """The commit checked out at `root` (git HEAD), or None outside a git work tree."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "-q", "HEAD"],  # noqa: S607 - the user's git
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            # Never a prompt, never a pager: a plan or an apply must not wait on git.
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = done.stdout.strip()
    return sha if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", sha) else None


def check_binding(where: Path, made_for: PlanBinding | None, here: PlanBinding) -> None:
    """SavedPlanError, one line, naming the first part of the binding that differs (the
    commit is not compared here: see the module docstring); a plan without one is refused."""
    if made_for is None:
        raise SavedPlanError(
            f"{where} does not say which project, environment and tenant it was made for "
            f"(written without a binding); {_REPLAN}"
        )
    tenant_source = "CXONE_BASE_URL / baseUrl"
    if here.tenant == EMULATED_TENANT:
        tenant_source = "--emulator"
    elif made_for.tenant == EMULATED_TENANT:
        tenant_source += "; the plan was made with --emulator: apply it with --emulator"
    parts = (
        ("project", made_for.project, here.project, "the `project:` of cxrecon.yaml"),
        ("environment", made_for.environment, here.environment, "-e"),
        ("tenant", made_for.tenant, here.tenant, tenant_source),
        ("connectors root", made_for.connectors, here.connectors, "`connectors:`"),
    )
    for part, planned, current, source in parts:
        if planned != current:
            raise SavedPlanError(
                f"{where} was planned for {part} {_shown(planned)}, but this apply is for "
                f"{part} {_shown(current)} ({source}): {_REPLAN}"
            )


def target_inside(where: Path, text: str | None, root: Path, connectors: Path) -> Path | None:
    """The PATH a plan was made for, inside the project's connectors root; None for the
    whole connectors root. SavedPlanError for an absolute path, `..`, or one that leads
    (through a link, too) out of the connectors root."""
    if text is None or text in ("", "."):
        return None
    posix = PurePosixPath(text)
    if posix.is_absolute() or ".." in posix.parts or "\\" in text or re.match(r"^[A-Za-z]:", text):
        raise SavedPlanError(
            f"{where} names the path {_shown(text)}; a saved plan's path must be relative to "
            f"the project, without `..`: {_REPLAN}"
        )
    path = root / Path(*posix.parts)
    try:
        path.resolve().relative_to(connectors.resolve())
    except ValueError:
        raise SavedPlanError(
            f"{where} names the path {_shown(text)}, which is outside this project's "
            f"connectors root {_shown(connectors_root_text(root, connectors))}: {_REPLAN}"
        ) from None
    return path


def connectors_root_text(root: Path, connectors: Path) -> str:
    try:
        return connectors.resolve().relative_to(root.resolve()).as_posix() or "."
    except ValueError:
        return str(connectors)


def relative_target(root: Path, target: Path | None) -> str | None:
    """The PATH given to `plan`, relative to the project root, as a plan records it."""
    if target is None:
        return None
    try:
        return target.resolve().relative_to(root.resolve()).as_posix() or "."
    except ValueError:
        return target.resolve().as_posix()  # refused when applied: outside the project


def _shown(value: str | None) -> str:
    if value is None:
        return "(none)"
    # One line whatever the file holds: control characters escaped, length bounded.
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "...'"
