"""`cxrecon status`: every connector's state in words, from a running controller's /status, or,
when no controller answers, from a one-shot plan against the tenant (read-only either way).

The controller is asked through reconciler.controller.status_client; the states are the status
page's (reconciler.controller.page.states). Exit codes: 0 in sync, 2 something to look at
(drift, a change waiting, a connector removed from git, a controller not ready, the first cycle
not finished), 1 an error (the controller's last cycle failed, or the plan could not be made).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import click

from reconciler.cli.common import emulator_option, environment_option, parallelism_option
from reconciler.controller.page.states import State, Tone, connector_state
from reconciler.controller.status_client import NoController, controller_url, fetch_status
from reconciler.render.escape import terminal

if TYPE_CHECKING:
    from reconciler import Plan

_ORDER: Final = {Tone.BAD: 0, Tone.WARN: 1, Tone.INFO: 2, Tone.OK: 3}


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    state: State
    detail: str


@click.command()
@click.option(
    "--url",
    default=None,
    envvar="CXRECON_STATUS_URL",
    help="A controller's --listen address, e.g. http://127.0.0.1:9108 (env "
    "CXRECON_STATUS_URL); its /status is read. Default: the address `cxrecon reconcile "
    "--listen` recorded in .cxrecon/controller.json here or in the project.",
)
@environment_option
@emulator_option
@click.option(
    "--plan",
    "plan_only",
    is_flag=True,
    help="Do not ask a controller: plan once against the tenant (read-only).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 120.0),
    default=5.0,
    show_default=True,
    help="Seconds to wait for the controller's answer.",
)
@parallelism_option()
@click.pass_context
def status(
    ctx: click.Context,
    url: str | None,
    environment: str | None,
    emulator: bool,
    plan_only: bool,
    timeout: float,
    parallelism: int,
) -> None:
    """Show each connector's state (in sync, drift, waiting, failed, …).

    Asks the controller at --url, or at the address `cxrecon reconcile --listen` recorded in
    .cxrecon/controller.json (in this folder or the project's); when none answers, says so,
    then plans once against the tenant instead, like `cxrecon plan` (-e, --emulator). Exit
    codes: 0 in sync, 2 something to look at, 1 an error.
    """
    if not plan_only:
        try:
            base, source = controller_url(url)
            try:
                body = fetch_status(base, timeout)
            except NoController as exc:
                raise NoController(f"{exc}{source}") from None
            ctx.exit(_print_controller(body, base, environment))
        except NoController as exc:
            click.echo(f"{exc}; planning once against the tenant instead.", err=True)
    from reconciler.cli.tenant import plan_from_tenant  # the client and planner: only here

    planned = plan_from_tenant(None, environment, emulator, parallelism=parallelism)
    ctx.exit(_print_plan(planned.run.plan, planned.env.name, emulator))


def _print_controller(body: Mapping[str, Any], base: str, environment: str | None) -> int:
    reported = body.get("environment")
    if environment and isinstance(reported, str) and reported != environment:
        raise NoController(
            f"the controller at {base} reconciles environment '{clean(reported)}', not "
            f"'{environment}'"
        )
    ready = body.get("ready") is True
    readiness = clean(str(body.get("readiness") or ""))
    env = f" ({clean(reported)})" if isinstance(reported, str) and reported else ""
    click.echo(f"Controller at {base}{env}: {readiness or ('ready' if ready else 'not ready')}")
    cycle = body.get("lastCycle")
    if not isinstance(cycle, dict):
        click.echo("The first reconcile cycle has not finished yet.")
        return 2
    click.echo(_cycle_line(cycle))
    if cycle.get("result") == "failed":
        click.echo(f"  error: {clean(str(cycle.get('error') or 'unknown'))}")
        return 1
    rows = []
    for c in cycle.get("connectors") or ():
        if not isinstance(c, dict) or not isinstance(c.get("name"), str):
            continue
        state = connector_state(
            action=str(c.get("action") or ""),
            origin=_opt(c.get("origin")),
            decision=_opt(c.get("decision")),
            outcome=_opt(c.get("outcome")),
            deleted=c.get("deletedInCxone") is True,
        )
        fields = [str(f) for f in c.get("fields") or ()]
        rows.append(Row(c["name"], state, _detail(fields, _opt(c.get("reason")))))
    _print_rows(rows)
    violations = [v for v in cycle.get("policyViolations") or () if isinstance(v, dict)]
    _print_violations(violations, "the controller will not write those")
    for b in body.get("backoff") or ():
        if isinstance(b, dict):
            click.echo(
                f"Retrying {clean(str(b.get('connector')))}: {b.get('failures')} failure(s) in a "
                f"row, next try in {b.get('retryInSeconds')}s; last error: "
                f"{clean(str(b.get('lastError')))}"
            )
    if not ready or cycle.get("result") != "success":
        return 2
    if any(v.get("severity") == "error" for v in violations):
        return 2  # a connector held by a policy
    return 2 if any(r.state.tone is not Tone.OK for r in rows) else 0


def _cycle_line(cycle: Mapping[str, Any]) -> str:
    number = cycle.get("number")
    result = clean(str(cycle.get("result")))
    seconds = cycle.get("durationSeconds")
    took = f" in {seconds:.1f}s" if isinstance(seconds, int | float) else ""
    started = _when(cycle.get("started"))
    commit = cycle.get("commit")
    at = f", commit {clean(commit[:12])}" if isinstance(commit, str) and commit else ""
    return f"Last cycle #{number}: {result}{took}, started {started}{at}"


def _when(value: Any) -> str:
    if not isinstance(value, str):
        return "at an unknown time"
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return clean(value)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _print_plan(plan: Plan, environment: str, emulator: bool) -> int:
    where = "the embedded emulator" if emulator else f"environment {clean(environment)}"
    click.echo(f"Planned once against {where} (no controller):")
    changes = plan.changes
    rows = [
        Row(
            c.name,
            connector_state(
                action=c.action.value,
                origin=None if c.origin is None else c.origin.value,
                deleted=c.deleted is not None,
            ),
            _detail([f.path for f in c.fields], "; ".join(c.problems) or c.orphan_note or c.note),
        )
        for c in changes
    ]
    _print_rows(rows)
    violations = [v.as_json() for v in plan.violations]
    _print_violations(violations, "apply will not write those connectors")
    if any(v["severity"] == "error" for v in violations):
        return 2
    return 2 if any(r.state.tone is not Tone.OK for r in rows) else 0


def _print_violations(violations: Sequence[Mapping[str, Any]], held: str) -> None:
    """The policies of cxrecon.yaml the connectors break (`Violation.as_json()` shape),
    errors first; every value is user-controlled text, cleaned for the terminal."""
    if not violations:
        return
    errors = sum(1 for v in violations if v.get("severity") == "error")
    said = f" ({held})" if errors else ""
    click.echo(f"\nPolicy: {errors} error(s), {len(violations) - errors} warning(s){said}:")
    ordered = sorted(
        violations,
        key=lambda v: (v.get("severity") != "error", str(v.get("connector")), str(v.get("policy"))),
    )
    for v in ordered:
        location = v.get("location")
        at = f" ({location})" if isinstance(location, str) and location else ""
        line = (
            f"  - {v.get('severity')}: policy '{v.get('policy')}': {v.get('connector')}{at}: "
            f"{v.get('message')}"
        )
        click.echo(clean(line))


def _detail(fields: Sequence[str], reason: str | None) -> str:
    parts = []
    if fields:
        shown = ", ".join(fields[:6]) + (f", … ({len(fields)} fields)" if len(fields) > 6 else "")
        parts.append(shown)
    if reason:
        parts.append(reason)
    return " — ".join(parts)


def _print_rows(rows: list[Row]) -> None:
    if not rows:
        click.echo("\nNo connector is declared in git or managed by cxrecon here.")
        return
    rows.sort(key=lambda r: (_ORDER[r.state.tone], r.name.casefold(), r.name))
    names = [clean(r.name) for r in rows]
    labels = [r.state.label for r in rows]
    name_w = min(max(len("CONNECTOR"), *(len(n) for n in names)), 48)
    state_w = max(len("STATE"), *(len(s) for s in labels))
    click.echo("")
    click.echo(f"{'STATE':<{state_w}}  {'CONNECTOR':<{name_w}}  DETAIL".rstrip())
    for row, name, label in zip(rows, names, labels, strict=True):
        line = f"{label:<{state_w}}  {name:<{name_w}}  {clean(row.detail)}"
        click.echo(line.rstrip())
    ok = sum(1 for r in rows if r.state.tone is Tone.OK)
    waiting = sum(1 for r in rows if r.state.tone is Tone.INFO)
    attention = len(rows) - ok - waiting
    click.echo(
        f"\n{len(rows)} connector{'s' if len(rows) != 1 else ''}: {ok} in sync, "
        f"{attention} to look at, {waiting} waiting."
    )


def clean(text: str) -> str:
    """`text` safe for a terminal (a connector name is user-controlled): control, bidi and
    line-separator characters shown as escapes (reconciler.render.escape.terminal)."""
    return terminal(text)


def _opt(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
