"""The text of the files `cxrecon init` writes besides the connectors and workflows: the
project file, `.gitignore`, `.env.example` and the team's README. Pure; no I/O.

Never a secret: an environment carries its base URL, token URL and client id (the settings
it was made with); the values the workflows and a laptop need are named, never given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from reconciler.gitops.workflows import WORKFLOW_DIR, SecretUse, secret_names

#: The lines `.gitignore` must hold: cxrecon's state folder (cache, emulator, audit log)
#: and a local file of secrets.
IGNORED: Final = (".cxrecon/", ".env")
#: Where cxrecon.yaml's `$schema` line points: the packaged schema init copies into the
#: project (a URL would not resolve offline, and a pip install has no schemas/ folder).
PROJECT_SCHEMA: Final = "schemas/project.schema.json"


@dataclass(frozen=True)
class Connection:
    """The non-secret settings of the connection an environment was made with."""

    base_url: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    grant: str | None = None
    username: str | None = None
    scopes: tuple[str, ...] = ()
    discovery: str | None = None
    #: The embedded emulator (`--emulator`): its documented address and demo client.
    emulated: bool = False

    def keys(self) -> dict[str, object]:
        """The environment's keys in cxrecon.yaml (SETTING_NAMES' project-file names)."""
        out: dict[str, object] = {}
        if self.discovery:
            out["discovery"] = self.discovery
        elif self.base_url:
            out["baseUrl"] = self.base_url
        if self.token_url and self.token_url != f"{self.base_url}/oauth/token":
            out["tokenUrl"] = self.token_url
        if self.client_id:
            out["clientId"] = self.client_id
        if self.grant and self.grant != "client_credentials":
            out["grant"] = self.grant
        if self.username:
            out["username"] = self.username
        if self.scopes:
            out["scopes"] = list(self.scopes)
        return out


def project_yaml(
    project: str, environments: Sequence[str], connection: Connection | None, connectors: str
) -> str:
    """cxrecon.yaml: the identity, the connectors folder, the environments (the first with
    `connection`, the others to be completed with their own tenant's)."""
    lines = [
        f"# yaml-language-server: $schema={PROJECT_SCHEMA}",
        "#",
        "# cxrecon project file (written by `cxrecon init`). Never put secrets here:",
        "# CXONE_CLIENT_SECRET / CXONE_PASSWORD come from the environment, connector secrets",
        "# from ${env:NAME} / ${file:PATH} references in the connector files.",
        "",
        "# The identity in the `cxrecon.io/project` label of every connector this repository",
        "# manages: keep it when the repository moves, is cloned or renamed.",
        f"project: {_scalar(project)}",
        f"connectors: {_scalar(connectors)}",
        "",
        "# Read-only commands without -e use this one; a write names its environment (-e).",
        f"defaultEnvironment: {_scalar(environments[0])}",
        "",
        "environments:",
    ]
    for index, name in enumerate(environments):
        keys = connection.keys() if connection is not None and index == 0 else {}
        if index == 0 and connection is not None and connection.emulated:
            lines.append("  # The embedded emulator (`cxrecon emulator serve`, or --emulator).")
        elif keys:
            lines.append("  # The connection `cxrecon init` used (the secret stays outside).")
        else:
            lines += [
                "  # Its connection: set baseUrl (or discovery) and clientId here, or",
                "  # CXONE_BASE_URL / CXONE_CLIENT_ID where it runs.",
            ]
        if not keys:
            lines.append(f"  {_scalar(name)}: {{}}")
            continue
        lines.append(f"  {_scalar(name)}:")
        lines += [f"    {key}: {_scalar(value)}" for key, value in keys.items()]
    return "\n".join(lines) + "\n"


def gitignore(existing: str | None, secret_files: Sequence[str] = ()) -> str | None:
    """The `.gitignore` with IGNORED and the `${file:PATH}` secrets (relative ones, anchored
    at the root) in it, or None when it holds them already."""
    present = {line.strip() for line in (existing or "").splitlines()}
    files = ["/" + f.removeprefix("./") for f in secret_files if not f.startswith("/")]
    missing = [e for e in (*IGNORED, *files) if e not in present and e.rstrip("/") not in present]
    if not missing:
        return None
    text = existing or ""
    if text and not text.endswith("\n"):
        text += "\n"
    header = "# cxrecon: its state (cache, embedded emulator, audit log) and local secrets\n"
    return text + header + "".join(f"{entry}\n" for entry in missing)


def env_example(
    environments: Sequence[str],
    secrets: Mapping[str, Sequence[SecretUse]],
    connection: Connection | None,
) -> str:
    """What to export to run cxrecon here (names only)."""
    lines = [
        "# The settings cxrecon needs on a laptop, by name; never commit values (.env is",
        "# git-ignored). In CI they are secrets of the GitHub environments (see README.md).",
        "",
        "# CXone credentials (cxrecon.yaml holds the base URL and client id of each environment)",
        "CXONE_CLIENT_SECRET=",
    ]
    if connection is not None and connection.grant == "password":
        lines.append("CXONE_PASSWORD=")
    uses = sorted({u for env in environments for u in secrets.get(env, ())})
    env_uses = [u for u in uses if u.kind == "env"]
    file_uses = [u for u in uses if u.kind == "file"]
    if env_uses:
        lines += ["", "# Connector secrets (${env:NAME} in the connector files)"]
        lines += [f"{u.name}=" for u in env_uses]
    if file_uses:
        lines += ["", "# Connector secrets read from files (${file:PATH}): put the value there"]
        lines += [f"# {u.name}" for u in file_uses]
    return "\n".join(lines) + "\n"


def readme(
    project: str,
    environments: Sequence[str],
    secrets: Mapping[str, Sequence[SecretUse]],
    connectors: str,
    connected: Sequence[str] = (),
) -> str:
    """A short README for the team: the daily flow and the one-time setup. `connected`: the
    environments cxrecon.yaml gives a connection (the others need one before they run)."""
    uses = sorted({u for env in environments for u in secrets.get(env, ())})
    names = secret_names(uses)
    first = environments[0]
    lines = [
        f"# {project}: CXone CRM connectors",
        "",
        f"The CRM connectors of CXone, as YAML in `{connectors}`, applied by cxrecon",
        "(installed as the repository variable `CXRECON_INSTALL` says). Git is the source of",
        "truth: a change made in the CXone UI shows as drift.",
        "",
        "## Every day",
        "",
        f"1. Edit a file in `{connectors}` on a branch; `cxrecon validate` checks it.",
        f"2. `cxrecon plan -e {first}` shows what would change (read-only).",
        "3. Open a pull request: the plan of each environment is posted as a comment. It names",
        "   any secret a change newly needs: add it to the GitHub environment before merging.",
        "4. Merge: the reviewed plan is applied to "
        + " then ".join(f"`{e}`" for e in environments)
        + ".",
        "5. Drift (a change made in CXone) opens an issue labelled `cxrecon-drift`.",
        "",
        "## One-time setup",
        "",
        "- Repository variable `CXRECON_INSTALL`: what pip installs, e.g.",
        "  `cxrecon @ git+https://github.com/ORG/cxrecon@FULL_COMMIT_SHA`.",
        "- For each environment, two GitHub environments (Settings > Environments):",
    ]
    for env in environments:
        needed = [names[u] for u in sorted(set(secrets.get(env, ())))]
        connector_secrets = ", ".join(f"`{n}`" for n in needed) if needed else "none yet"
        lines += [
            f"  - `{env}` (applies; allow deployments from `main` only): secrets "
            f"`CXONE_CLIENT_ID`, `CXONE_CLIENT_SECRET` and the connector secrets: "
            f"{connector_secrets}.",
            f"  - `{env}-plan` (plans and drift, read-only): secrets `CXONE_READONLY_CLIENT_ID`,"
            " `CXONE_READONLY_CLIENT_SECRET`; variable `CXONE_SCOPES=crm:connectors:read`.",
        ]
    unconnected = [f"`{env}`" for env in environments if env not in connected]
    if unconnected:
        lines += [
            f"- {', '.join(unconnected)}: cxrecon.yaml names no tenant yet. Set `baseUrl` and",
            "  `clientId` of the environment there, or the variable `CXONE_BASE_URL` in its",
            "  GitHub environments.",
        ]
    lines += [
        f"- The workflows are in `{WORKFLOW_DIR}/`; `cxrecon secrets` lists what each",
        "  environment needs and whether it is set where you run it.",
        "",
        "## On a laptop",
        "",
        "Export the variables named in `.env.example`, then `cxrecon validate`,",
        f"`cxrecon plan -e {first}`, `cxrecon drift -e {first}`. `cxrecon plan --emulator`",
        "plans against a local emulator instead of CXone.",
    ]
    return "\n".join(lines) + "\n"


def _scalar(value: object) -> str:
    """`value` in YAML: strings quoted as JSON (always valid YAML) unless plainly safe."""
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    text = str(value)
    plain = text[:1].isalnum() and all(c.isalnum() or c in "._-/:" for c in text)
    if plain and ": " not in text and text.lower() not in {"true", "false", "yes", "no", "null"}:
        return text
    return json.dumps(text, ensure_ascii=False)
