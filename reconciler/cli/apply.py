"""`cxrecon apply`: show the plan, get a confirmation, execute it, report per connector.

Exit codes: 0 everything applied (and every requested sync completed); 1 any failure, an
invalid desired state, a stale saved plan, or a refusal to apply without confirmation.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

# Only what the options need is imported here (light modules): `cxrecon apply --help` and
# the command list load without the client, the planner or the renderers.
from reconciler.cli.apply_saved import (
    check_plan_options,
    continue_command,
    from_saved,
    stale_rule,
)
from reconciler.cli.apply_stop import Interruption, grace_seconds, stopped_summary
from reconciler.cli.common import (
    audit_log_option,
    emulator_option,
    environment_option,
    open_target,
    parallelism_option,
    poll_options,
    prune_option,
    strict_option,
    take_ownership_option,
    write_environment,
)
from reconciler.errors import CxreconError
from reconciler.model import SYNC_TYPES

if TYPE_CHECKING:
    from reconciler import (
        ApplyReport,
        AuditLog,
        ConnectorResult,
        LoadResult,
        Plan,
        SavedPlan,
        SecretLookup,
    )
    from reconciler.config.project import Project
    from reconciler.config.settings import ConnectionSettings
    from reconciler.facade import ApplyOptions, Approval
    from reconciler.telemetry.summary import RunSummary


@dataclass(frozen=True)
class Asking:
    """What the command line says about approval (reconciler.cli.apply_ask)."""

    auto_approve: bool
    allow_unsafe: bool


@click.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Apply a saved plan (`cxrecon plan --out FILE`) exactly, if nothing moved since.",
)
@environment_option
@emulator_option
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--allow-unsafe", is_flag=True, help="Apply a plan over the safety gate without asking."
)
@prune_option
@take_ownership_option
@click.option(
    "--sync",
    "run_sync",
    is_flag=True,
    help="After applying, run a CRM data sync on every connector created or changed that is "
    "ACTIVE, and wait for it.",
)
@click.option(
    "--sync-type",
    "--type",
    "sync_type",
    type=click.Choice(SYNC_TYPES),
    default="INCREMENTAL",
    show_default=True,
    help="Kind of sync --sync runs (as `cxrecon sync --type`): FULL re-reads every CRM "
    "record; INCREMENTAL only changes since the last sync.",
)
@poll_options
@parallelism_option()
@audit_log_option(
    "Append one JSON line per write and per sync here [default: .cxrecon/audit.jsonl in the "
    "project folder].",
    None,
)
@click.option(
    "--metrics-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write run metrics as a Prometheus text file (node exporter textfile collector).",
)
@click.option(
    "--metrics-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Format of the run summary printed on stderr.",
)
@click.option("--replan", is_flag=True, help="With --plan: plan afresh if the saved plan is stale.")
@click.option(
    "--if-stale",
    type=click.Choice(["fail", "replan", "reviewed"]),
    default=None,
    help="With --plan, when the saved plan is stale: fail (the default), replan (as "
    "--replan: plan afresh and confirm that plan), or reviewed (plan afresh and apply only "
    "what was reviewed: a field changed in CXone that no reviewed change writes is left "
    "as drift; a connector with anything else not as reviewed fails, unwritten). "
    "--allow-unsafe covers the reviewed plan only.",
)
@strict_option
@click.pass_context
def apply(
    ctx: click.Context,
    path: Path | None,
    plan_file: Path | None,
    environment: str | None,
    emulator: bool,
    auto_approve: bool,
    allow_unsafe: bool,
    prune: bool,
    take_ownership: bool,
    run_sync: bool,
    sync_type: str,
    poll_base: float | None,
    poll_cap: float | None,
    poll_attempts: int | None,
    poll_timeout: float | None,
    parallelism: int,
    audit_log: Path | None,
    metrics_file: Path | None,
    metrics_format: str,
    replan: bool,
    if_stale: str | None,
    strict: bool,
) -> None:
    """Make CXone match git: create, update, (de)activate connectors, with ETag guards.

    Shows the plan and asks before writing (on a terminal); without a terminal it needs
    --auto-approve or a reviewed saved plan (--plan FILE). Every write is in the audit log.
    """
    import asyncio

    from reconciler.facade import (
        ApplyOptions,
        SyncRequest,
        load_desired,
        open_audit_log,
        open_project,
        plan_scope,
        read_saved_plan,
        secrets_for,
    )
    from reconciler.facade.oneshot import audit_log_at
    from reconciler.facade.syncing import poll_policy
    from reconciler.notify.runs import notify_apply, notify_apply_error
    from reconciler.render.apply import render_report
    from reconciler.render.progress import progress_for
    from reconciler.telemetry.summary import summarize

    check_plan_options(path, plan_file, replan, if_stale)
    saved = read_saved_plan(plan_file) if plan_file is not None else None
    # The project is the one apply runs in, never one a saved plan names (issue 22).
    project = open_project()
    if saved is None:
        project.require_found(path)
    if saved is not None:
        saved, environment, path = from_saved(saved, project, environment, prune, emulator)
    # Identity, a named environment, its tenant: checked before anything is opened (issue 24).
    env = write_environment(project, environment, emulator=emulator)
    env_name = project.environment_label(environment)
    complete = plan_scope(path, prune)
    loaded = load_desired(project, env, path, strict=strict)
    sync = None
    if run_sync:
        sync = SyncRequest(
            sync_type=sync_type,
            policy=poll_policy(project, poll_base, poll_cap, poll_attempts, poll_timeout),
            progress=lambda total: progress_for(sys.stderr, total),
        )
    rule = stale_rule(if_stale or ("replan" if replan else "fail"))
    asking = Asking(auto_approve=auto_approve, allow_unsafe=allow_unsafe)
    started = time.monotonic()
    given_log = audit_log
    audit_log = audit_log_at(project.root, audit_log)
    stop = Interruption(grace_seconds(), lambda message: click.echo(message, err=True))
    report: ApplyReport | None = None
    with open_target(environment, emulator, dict(env.connection), root=project.root) as target:
        options = ApplyOptions(
            environment=env_name,
            prune=prune,
            complete=complete,
            take_ownership=take_ownership,
            parallelism=parallelism,
            if_stale=rule,
            sync=sync,
            # The embedded emulator is no shared tenant: `--emulator` needs no identity.
            require_identity=not target.emulated,
        )
        with open_audit_log(
            audit_log, environment=env_name, command="apply", root=project.root
        ) as audit:
            secrets = secrets_for(
                project,
                emulated=target.emulated,
                warn=lambda message: click.echo(message, err=True),
                audit=audit,
            )
            run = _Run(project, loaded, options, asking, saved, audit, secrets, stop)
            try:
                report = asyncio.run(run.main(target.settings))
            except (asyncio.CancelledError, KeyboardInterrupt):
                if not run.writing and stop.signal is None:
                    raise KeyboardInterrupt from None  # Ctrl-C before any write: exit 130
            except CxreconError as exc:
                # `notifications:` hear of an apply that stopped (bounded; never changes it)
                commit = audit.actor.git_commit
                notify_apply_error(project, env_name, exc, warn=_stderr, commit=commit)
                raise
    if not run.writing and stop.signal is not None:
        # SIGTERM before the plan was confirmed: nothing was written (exit 143).
        name = signal.Signals(stop.signal).name
        click.echo(f"Interrupted by {name} before any write; nothing was written.", err=True)
        ctx.exit(stop.exit_code)
    for line in audit.settled:
        click.echo(line, err=True)
    if report is not None:
        click.echo(render_report(report))
        if plan_file is not None and not report.ok and not run.replanned:
            # What continues a saved plan that partly failed: the same plan, as is (issue 24).
            again = continue_command(
                plan_file,
                environment,
                prune=prune,
                if_stale=rule,
                allow_unsafe=allow_unsafe,
                audit_log=given_log,
            )
            click.echo(again)
        commit = audit.actor.git_commit
        notify_apply(project, env_name, report, run.plan, warn=_stderr, commit=commit)
    if audit.failure is not None:
        lost = f" ({audit.records_lost} record{'s' if audit.records_lost != 1 else ''} lost)"
        click.echo(f"error: {audit.failure}{lost}", err=True)
    if stop.signal is not None or report is None:
        results = report.results if report is not None else tuple(run.finished)
        click.echo(stopped_summary(stop.signal, run.planned, results, audit), err=True)
        ctx.exit(stop.exit_code)
    summary = summarize(
        run.api_calls,
        command="apply",
        run_id=audit.run_id,
        environment=env_name,
        duration_seconds=time.monotonic() - started,
        outcomes=report.outcome_counts(),
    )
    _print_summary(summary, metrics_format, metrics_file)
    ctx.exit(0 if report.ok and audit.failure is None else 1)


def _print_summary(summary: RunSummary, metrics_format: str, metrics_file: Path | None) -> None:
    """The run summary on stderr (text or JSON), and the Prometheus file if asked for."""
    from reconciler.telemetry.summary import render_text, to_json, write_prometheus

    if metrics_format == "json":
        click.echo(json.dumps(to_json(summary), indent=2), err=True)
    else:
        click.echo(render_text(summary), err=True)
    if metrics_file is not None:
        write_prometheus(summary, metrics_file)


class _Run:
    """The async part of one apply: the facade's `apply_desired`, with the plan printed and
    its approval asked for here (reconciler.cli.apply_ask) and SIGTERM turned into a clean
    stop."""

    def __init__(
        self,
        project: Project,
        loaded: LoadResult,
        options: ApplyOptions,
        asking: Asking,
        saved: SavedPlan | None,
        audit: AuditLog,
        secrets: SecretLookup,
        stop: Interruption,
    ) -> None:
        self.project = project
        self.loaded = loaded
        self.options = options
        self.asking = asking
        self.saved = saved
        self.audit = audit
        self.secrets = secrets
        self.stop = stop
        #: The saved plan was stale and a fresh plan replaced it.
        self.replanned = False
        #: The writes have started (the plan was confirmed); how many changes it holds.
        self.writing = False
        self.planned = 0
        #: Connectors finished so far (what an interruption reports).
        self.finished: list[ConnectorResult] = []
        #: The plan that was applied (what `notifications:` say was written).
        self.plan: Plan | None = None

    async def main(self, settings: ConnectionSettings) -> ApplyReport:
        # Until the plan is confirmed, SIGTERM (a CI job cancelled, a pod stopped) cancels
        # this task as asyncio.run does for Ctrl-C; once writes start, either signal stops
        # new writes and lets those in flight answer (reconciler.cli.apply_stop).
        self.stop.install()
        try:
            return await self._main(settings)
        finally:
            self.stop.uninstall()

    async def _main(self, settings: ConnectionSettings) -> ApplyReport:
        from reconciler.facade import ApplyHooks, apply_desired, connect
        from reconciler.render.apply import review_text

        async with connect(settings, parallelism=self.options.parallelism) as client:
            run = await apply_desired(
                self.project,
                client,
                self.loaded,
                secrets=self.secrets,
                options=self.options,
                hooks=ApplyHooks(
                    confirm=self._show_and_confirm,
                    on_stale=self._stale,
                    on_review=lambda verdict: click.echo(review_text(verdict)),
                    on_result=self._finished,
                    should_write=self.stop.allows_write,
                ),
                saved=self.saved,
                audit=self.audit,
            )
            #: The API calls of the run (the run summary), once it returned.
            self.api_calls = client.stats.snapshot()
        self.plan = run.plan
        return run.report

    def _finished(self, result: ConnectorResult) -> None:
        from reconciler.render.apply import result_line

        self.finished.append(result)
        click.echo(result_line(result))

    def _stale(self, exc: Exception) -> None:
        from reconciler.cli.apply_ask import stale_note
        from reconciler.render.escape import terminal_lines

        self.replanned = True
        click.echo(terminal_lines(stale_note(str(exc), self.options.if_stale)), err=True)

    def _show_and_confirm(self, plan: Plan, approval: Approval) -> None:
        from reconciler.cli.apply_ask import confirm
        from reconciler.render.text import TextRenderer, use_color

        click.echo(TextRenderer(color=use_color(sys.stdout)).render(plan), nl=False)
        if approval.needed:
            confirm(
                approval,
                allow_unsafe=self.asking.allow_unsafe,
                auto_approve=self.asking.auto_approve,
            )
            click.echo("")
        self.planned = approval.writes
        self.writing = True
        self.stop.writing()


def _stderr(message: str) -> None:
    click.echo(message, err=True)
