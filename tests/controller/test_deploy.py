"""The deployment examples in deploy/ parse, run `cxrecon reconcile` with valid flags, and wire
their probes to the endpoints the controller serves."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from reconciler.cli.reconcile import reconcile
from reconciler.controller.health import parse_listen

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "systemd" / "cxrecon-reconcile.service"
MANIFEST = DEPLOY / "kubernetes" / "cxrecon-reconcile.yaml"
ENV_EXAMPLE = DEPLOY / "systemd" / "cxrecon.env.example"
CONNECTORS = DEPLOY.parent / "connectors"
REFERENCE = re.compile(r"\$\{(env|file):([^}]+)\}")
#: A URL carrying a password or token: scheme://user:secret@host, or https://token@host (an
#: ssh:// URL names only the remote's user, e.g. ssh://git@host/...).
CREDENTIALS_IN_URL = re.compile(
    r"[a-z][a-z0-9+.-]*://[^/@\s:]+:[^/@\s]+@|https?://[^/@\s]+@", re.IGNORECASE
)


def unit_sections(text: str) -> dict[str, dict[str, list[str]]]:
    """systemd's format: sections of Key=Value lines; a key may repeat."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"a setting outside any section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"not Key=Value: {line}"
        current.setdefault(key, []).append(value)
    return sections


def unit_environment(service: dict[str, list[str]]) -> dict[str, str]:
    """Every Environment= line, each a list of (possibly quoted) KEY=VALUE words."""
    return dict(word.split("=", 1) for line in service["Environment"] for word in shlex.split(line))


def env_example() -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    )


def connector_references(kind: str) -> set[str]:
    return {
        name
        for path in CONNECTORS.glob("*.yaml")
        for found, name in REFERENCE.findall(path.read_text(encoding="utf-8"))
        if found == kind
    }


def parsed_flags(args: list[str]) -> dict[str, Any]:
    """The CLI's own parser over `args` (no run): unknown flags or bad values fail here."""
    context = reconcile.make_context("reconcile", list(args), resilient_parsing=False)
    return dict(context.params)


def test_the_systemd_unit_runs_the_controller_hardened_and_restarts_on_failure() -> None:
    unit = unit_sections(UNIT.read_text())
    service = unit["Service"]
    exec_start = shlex.split(service["ExecStart"][0])
    assert exec_start[0].endswith("/cxrecon")
    assert exec_start[1] == "reconcile"
    env = unit_environment(service)
    args = [a.replace("${CXRECON_REPO}", env["CXRECON_REPO"]) for a in exec_start[2:]]
    flags = parsed_flags(args)
    assert flags["repo"] == Path("/var/lib/cxrecon/repo")
    assert parse_listen(flags["listen"]) is not None
    assert service["Restart"] == ["on-failure"]
    assert service["DynamicUser"] == ["yes"] or service.get("User")
    assert service["ProtectSystem"] == ["strict"]
    assert service["NoNewPrivileges"] == ["yes"]
    assert service["EnvironmentFile"] == ["/etc/cxrecon/cxrecon.env"]
    assert service["KillSignal"] == ["SIGTERM"]
    assert int(service["TimeoutStopSec"][0]) >= 60
    assert "-HUP" in service["ExecReload"][0]
    # The state directory is where the audit log goes by default ($STATE_DIRECTORY).
    assert service["StateDirectory"] == ["cxrecon"]
    assert env["CXRECON_REPO"].startswith("/var/lib/cxrecon/")
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_the_systemd_environment_example_holds_no_real_secret() -> None:
    values = env_example()
    assert values["CXONE_CLIENT_SECRET"] == "replace-me"
    assert all(v == "replace-me" for k, v in values.items() if "SECRET" in k)


def test_the_systemd_example_provides_every_secret_the_sample_connectors_reference() -> None:
    values = env_example()
    for name in connector_references("env"):
        assert values.get(name) == "replace-me", f"cxrecon.env.example lacks {name}"
    service = unit_sections(UNIT.read_text())["Service"]
    credentials = dict(line.split(":", 1) for line in service.get("LoadCredential", []))
    files = connector_references("file")
    assert files, "the sample connectors reference a ${file:} secret"
    for path in files:
        # ${file:} paths stay inside the checkout: the unit copies each credential systemd
        # loads from LoadCredential= into a real .secrets/ folder there (a link out of the
        # checkout is refused, and would expose the deploy key next to them).
        directory, _, name = path.rpartition("/")
        assert directory == ".secrets"
        assert credentials[name].startswith("/etc/cxrecon/")
        pre = " ".join(service["ExecStartPre"])
        assert f'"$CREDENTIALS_DIRECTORY/{name}" "$CXRECON_REPO/.secrets/{name}"' in pre
    assert "ln -s" not in " ".join(service["ExecStartPre"])


def test_the_controller_reaches_a_private_remote_with_a_deploy_key_not_a_token() -> None:
    service = unit_sections(UNIT.read_text())["Service"]
    credentials = dict(line.split(":", 1) for line in service.get("LoadCredential", []))
    ssh = shlex.split(unit_environment(service)["GIT_SSH_COMMAND"])
    assert ssh[0] == "ssh"
    key = ssh[ssh.index("-i") + 1]
    assert key.startswith("%d/"), "the key comes from the credentials directory"
    assert key.removeprefix("%d/") in credentials
    options = dict(ssh[i + 1].split("=", 1) for i, word in enumerate(ssh) if word == "-o")
    assert options["IdentitiesOnly"] == "yes"
    assert options["StrictHostKeyChecking"] == "yes"
    assert options["UserKnownHostsFile"].removeprefix("%d/") in credentials
    assert env_example()["CXRECON_GIT_URL"].startswith("ssh://")
    for path in (UNIT, ENV_EXAMPLE, MANIFEST, DEPLOY / "README.md"):
        assert not CREDENTIALS_IN_URL.search(path.read_text()), f"{path.name}: a secret in a URL"


@pytest.fixture(scope="module")
def manifest() -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def container(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    for c in deployment["spec"]["template"]["spec"]["containers"]:
        if c["name"] == name:
            return dict(c)
    raise AssertionError(f"no container {name}")


def port_number(c: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    return next(int(p["containerPort"]) for p in c["ports"] if p["name"] == port)


def test_the_deployment_probes_the_controller_endpoints(
    manifest: dict[str, dict[str, Any]],
) -> None:
    deployment = manifest["Deployment/cxrecon-reconcile"]
    cx = container(deployment, "cxrecon")
    assert cx["args"][0] == "reconcile"
    flags = parsed_flags(cx["args"][1:])
    listen = parse_listen(flags["listen"])
    assert listen is not None
    assert listen.host == "0.0.0.0"  # noqa: S104 - the kubelet probes the pod IP
    live, ready = cx["livenessProbe"]["httpGet"], cx["readinessProbe"]["httpGet"]
    assert live["path"] == "/healthz"
    assert ready["path"] == "/readyz"
    assert port_number(cx, live["port"]) == listen.port
    assert port_number(cx, ready["port"]) == listen.port
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == listen.port
    assert annotations["prometheus.io/path"] == "/metrics"


def test_the_deployment_is_one_non_root_replica_with_limits_and_a_grace_period(
    manifest: dict[str, dict[str, Any]],
) -> None:
    deployment = manifest["Deployment/cxrecon-reconcile"]
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"  # never two controllers at once
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["terminationGracePeriodSeconds"] >= 60
    for c in pod["containers"]:
        assert c["resources"]["limits"]["memory"]
        assert c["resources"]["limits"]["cpu"]
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_the_repo_comes_from_the_git_sync_sidecar_and_state_is_persistent(
    manifest: dict[str, dict[str, Any]],
) -> None:
    deployment = manifest["Deployment/cxrecon-reconcile"]
    cx = container(deployment, "cxrecon")
    sync = container(deployment, "git-sync")
    flags = parsed_flags(cx["args"][1:])
    assert flags["pull"] is False
    sync_args = dict(a.lstrip("-").split("=", 1) for a in sync["args"])
    assert flags["repo"] == Path(sync_args["root"]) / sync_args["link"]
    mounts = {m["name"]: m for m in cx["volumeMounts"]}
    assert mounts["git"]["mountPath"] == sync_args["root"]
    assert str(flags["audit_log"]).startswith(mounts["state"]["mountPath"])
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    claim = volumes["state"]["persistentVolumeClaim"]["claimName"]
    assert f"PersistentVolumeClaim/{claim}" in manifest


def test_settings_come_from_a_config_map_and_secrets_only_by_reference(
    manifest: dict[str, dict[str, Any]],
) -> None:
    cx = container(manifest["Deployment/cxrecon-reconcile"], "cxrecon")
    sources = cx["envFrom"]
    config = next(s["configMapRef"]["name"] for s in sources if "configMapRef" in s)
    secret = next(s["secretRef"]["name"] for s in sources if "secretRef" in s)
    data = manifest[f"ConfigMap/{config}"]["data"]
    assert data["CXONE_BASE_URL"].startswith("https://")
    assert not any("SECRET" in key or "PASSWORD" in key for key in data)
    assert not any(key.startswith("Secret/") for key in manifest)  # referenced, never shipped
    assert secret == "cxrecon-credentials"


def test_the_service_exposes_the_metrics_port(manifest: dict[str, dict[str, Any]]) -> None:
    deployment = manifest["Deployment/cxrecon-reconcile"]
    service = manifest["Service/cxrecon-reconcile"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    assert port_number(container(deployment, "cxrecon"), port["targetPort"]) == 9108


def test_flag_parsing_of_the_examples_would_catch_a_typo() -> None:
    with pytest.raises(click.NoSuchOption):
        parsed_flags(["--repo", "/x", "--self-heall"])


def test_both_deployments_name_the_environment_and_the_identity_they_write_with(
    manifest: dict[str, dict[str, Any]],
) -> None:
    """Issue 24: without -e the controller used defaultEnvironment (`local` in the sample)
    while CXONE_BASE_URL pointed at production; the folder (git-sync's `.worktrees/<sha>`,
    the unit's `repo`) was the identity. Each now names both, and the environment named is
    the sample cxrecon.yaml's for the tenant its CXONE_BASE_URL points at."""
    from reconciler.config.project import load_project

    sample = load_project(DEPLOY.parent, environ={})
    cx = container(manifest["Deployment/cxrecon-reconcile"], "cxrecon")
    k8s_env = parsed_flags(cx["args"][1:])["environment"]
    data = manifest["ConfigMap/cxrecon-settings"]["data"]
    unit = unit_sections(UNIT.read_text())["Service"]
    exec_start = shlex.split(unit["ExecStart"][0])
    unit_env = parsed_flags([a.replace("${CXRECON_REPO}", "/r") for a in exec_start[2:]])
    settings = env_example()
    for environment, values in ((k8s_env, data), (unit_env["environment"], settings)):
        assert environment in sample.environments
        assert sample.environments[environment].connection["baseUrl"] == values["CXONE_BASE_URL"]
        assert values["CXRECON_PROJECT"]
    assert k8s_env == unit_env["environment"] == "production"
