"""`cxrecon reconcile`: controller mode. Every interval (and on SIGHUP) pull the repository,
plan, and apply what may be applied now; serve /healthz, /readyz, /metrics; stop on SIGTERM.

Exit codes: 0 after a graceful stop; with --once: 0 in sync (or everything applied), 2 changes
left unapplied (drift reported, a window, backoff, safety gate), 1 a failure.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler import DEFAULT_AUDIT_LOG
from reconciler.cli.common import (
    audit_log_option,
    emulator_option,
    environment_option,
    open_target,
    parallelism_option,
    prune_option,
    strict_option,
)
from reconciler.config.durations import parse_duration
from reconciler.config.settings import ConnectionSettings
from reconciler.errors import ConfigError

if TYPE_CHECKING:
    from reconciler.config.project import EnvironmentConfig, Project
    from reconciler.controller.backoff import BackoffPolicy
    from reconciler.controller.cycle import SettingsFor
    from reconciler.controller.health import ListenAddress
    from reconciler.controller.page.headers import HostAllowList
    from reconciler.controller.report import ControllerOptions, CycleReport


class HostNames(click.types.StringParamType):
    """`--allowed-host NAME`, repeatable; from the environment, comma-separated names."""

    name = "name"
    envvar_list_splitter = ","

    def split_envvar_value(self, rv: str) -> Sequence[str]:
        return [part.strip() for part in rv.split(",") if part.strip()]


def _default_audit_log() -> Path:
    # systemd's StateDirectory= sets STATE_DIRECTORY; elsewhere the usual .cxrecon/ path.
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(state) / "audit.jsonl" if state else DEFAULT_AUDIT_LOG


@click.command()
@environment_option
@emulator_option
@click.option(
    "--repo",
    required=True,
    envvar="CXRECON_REPO",
    type=click.Path(file_okay=False, path_type=Path),
    help="The git checkout holding cxrecon.yaml and the connectors (env CXRECON_REPO).",
)
@click.option("--interval", default="5m", show_default=True, help="Time between cycles.")
@click.option("--self-heal", is_flag=True, help="Also revert drift (changes made in CXone).")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Plan and report only; never write: not to CXone, the audit log or the checkout "
    "(a clone that is not the controller's own is planned as it is, edits included).",
)
@click.option(
    "--listen",
    default="127.0.0.1:9108",
    show_default=True,
    help="HOST:PORT for /healthz, /readyz, /metrics, /status; `off` to disable.",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    type=HostNames(),
    multiple=True,
    envvar="CXRECON_ALLOWED_HOSTS",
    help="A host name the endpoints answer to, e.g. the ingress's cxrecon.example.com "
    "(repeatable; replaces env CXRECON_ALLOWED_HOSTS, comma-separated). IP addresses and "
    "localhost are always answered; any other Host gets 421 (no DNS rebinding).",
)
@click.option("--once", is_flag=True, help="Run one cycle and exit (for cron and tests).")
@click.option(
    "--pull/--no-pull",
    default=True,
    show_default=True,
    help="Fetch the branch and check out its tip before each cycle, following force-pushes "
    "(--no-pull when a sidecar syncs the checkout). Uncommitted changes or local commits "
    "refuse the cycle, except in the controller's own clone (inside $STATE_DIRECTORY), "
    "which is reset to the branch.",
)
@click.option("--ignore-windows", is_flag=True, help="Apply even outside the sync windows.")
@click.option("--allow-unsafe", is_flag=True, help="Apply plans over the safety gate.")
@prune_option
@strict_option
@parallelism_option(4)
@audit_log_option(
    f"JSON Lines audit log [default: $STATE_DIRECTORY/audit.jsonl or {DEFAULT_AUDIT_LOG}].", None
)
@click.option(
    "--backoff-base", default="1m", show_default=True, help="Backoff after a first failure."
)
@click.option("--backoff-cap", default="1h", show_default=True, help="Longest backoff.")
@click.option(
    "--ready-after",
    type=click.FloatRange(1.0, 100.0),
    default=3.0,
    show_default=True,
    help="/readyz fails when no cycle succeeded for this many intervals.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="Least severe log lines written to stderr.",
)
@click.pass_context
def reconcile(
    ctx: click.Context,
    environment: str | None,
    emulator: bool,
    repo: Path,
    interval: str,
    self_heal: bool,
    dry_run: bool,
    listen: str,
    allowed_hosts: tuple[str, ...],
    once: bool,
    pull: bool,
    ignore_windows: bool,
    allow_unsafe: bool,
    prune: bool,
    strict: bool,
    parallelism: int,
    audit_log: Path | None,
    backoff_base: str,
    backoff_cap: str,
    ready_after: float,
    log_level: str,
) -> None:
    """Keep CXone in line with git: a reconcile loop (controller mode).

    Each cycle fetches --repo's branch and checks out its tip (on failure the last good
    commit is used; work in a clone is never discarded), plans, and applies changes that
    come from git. Drift made in CXone is reported, and
    reverted with --self-heal. `syncWindows` in cxrecon.yaml limit when writes happen.
    SIGHUP starts a cycle at once; SIGTERM/SIGINT finish the connectors in flight and exit 0.
    """
    # Imported here, not at the top: `cxrecon reconcile --help` needs none of them.
    from reconciler.controller.health import parse_listen
    from reconciler.controller.page.headers import HostAllowList
    from reconciler.controller.report import ControllerOptions

    seconds = parse_duration(interval, what="--interval")
    if seconds <= 0:
        raise ConfigError("--interval must be longer than zero, e.g. 30s or 5m")
    policy = _backoff_policy(backoff_base, backoff_cap)
    address = parse_listen(listen)
    hosts = HostAllowList.of(allowed_hosts)
    if pull and not repo.is_dir():
        # Without --pull the directory may appear later (a git-sync sidecar's first clone).
        raise ConfigError(f"--repo {repo} is not a directory; point it at the git checkout")
    if not dry_run and repo.is_dir():
        _check_writes(repo, environment, emulator)
    _configure_logging(log_level)
    # Not resolved: a `.cxrecon` committed as a link must be seen (and refused), not followed.
    log_path = (audit_log or _default_audit_log()).absolute()
    options = ControllerOptions(
        # Not resolved: a git-sync link is swapped to a new worktree on each sync.
        repo=repo.absolute(),
        audit_log=log_path,
        state_root=_state_root(log_path, repo.absolute(), default=audit_log is None),
        environment=environment,
        interval=seconds,
        self_heal=self_heal,
        dry_run=dry_run,
        ignore_windows=ignore_windows,
        allow_unsafe=allow_unsafe,
        prune=prune,
        pull=pull,
        strict=strict,
        parallelism=parallelism,
        ready_factor=ready_after,
    )
    report = _run(options, policy, address, hosts, once, emulator=emulator)
    ctx.exit(_exit_code(report) if once else 0)


def _check_writes(repo: Path, environment: str | None, emulator: bool) -> None:
    """Refuse to start a controller that would write without an identity, an environment
    named among several, or with CXONE_BASE_URL at another tenant (one line, exit 1); every
    cycle checks again (a commit may change cxrecon.yaml). A cxrecon.yaml that does not load
    is left to the first cycle, which reports it as any later one would."""
    from reconciler.cli.common import write_environment
    from reconciler.facade import open_project

    try:
        project = open_project(repo)
    except ConfigError:
        return
    write_environment(project, environment, emulator=emulator)


def _state_root(log: Path, repo: Path, *, default: bool) -> Path | None:
    """The folder below which the audit log (and the notification memory beside it) is
    written through no link: the checkout when the log is in it (its files are untrusted
    input), the working folder for the default `.cxrecon/audit.jsonl`; None for a log the
    operator placed elsewhere (a state directory, a volume: links there are theirs)."""
    for root in (repo, Path.cwd() if default else None):
        if root is not None and log.is_relative_to(root):
            return root
    return None


def _backoff_policy(base: str, cap: str) -> BackoffPolicy:
    from reconciler.controller.backoff import BackoffPolicy

    return BackoffPolicy(
        base_seconds=parse_duration(base, what="--backoff-base"),
        cap_seconds=parse_duration(cap, what="--backoff-cap"),
    )


def _run(
    options: ControllerOptions,
    policy: BackoffPolicy,
    address: ListenAddress | None,
    hosts: HostAllowList,
    once: bool,
    *,
    emulator: bool,
) -> CycleReport | None:
    """Run the controller against the embedded emulator or the tenant the environment names."""
    import asyncio

    if emulator:
        with open_target(options.environment, True) as target:
            fixed = target.settings
            return asyncio.run(
                _main(options, lambda _p, _e: fixed, policy, address, hosts, once, emulated=True)
            )
    return asyncio.run(_main(options, _settings_from_env, policy, address, hosts, once))


def _settings_from_env(project: Project, env: EnvironmentConfig) -> ConnectionSettings:
    # Read every cycle: a commit may change the environment's non-secret settings.
    return ConnectionSettings.from_sources(os.environ, dict(env.connection))


async def _main(
    options: ControllerOptions,
    settings_for: SettingsFor,
    policy: BackoffPolicy,
    address: ListenAddress | None,
    hosts: HostAllowList,
    once: bool,
    *,
    emulated: bool = False,
) -> CycleReport | None:
    from reconciler.controller.loop import Controller

    controller = Controller(
        options,
        settings_for=settings_for,
        backoff=policy,
        emulated=emulated,
        # `cxrecon status` run here (or in the project) reads the address from .cxrecon/.
        record_address_in=Path.cwd(),
    )
    controller.install_signal_handlers()
    try:
        return await controller.run(once=once, listen=address, hosts=hosts)
    finally:
        controller.remove_signal_handlers()


def _exit_code(report: CycleReport | None) -> int:
    from reconciler.controller.report import CycleResult

    if report is None or report.result is not CycleResult.SUCCESS:
        return 1
    return 2 if report.pending else 0


def _configure_logging(level: str) -> None:
    import logging

    logger = logging.getLogger("cxrecon")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
