"""`cxrecon apply --plan FILE`: the command line and the project checked against a saved
plan. What the command line says wins over the file (environment, --prune), and the file
never switches the run to another project, folder or tenant (the facade's bind_saved_plan)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from reconciler import SavedPlan
    from reconciler.config.project import Project
    from reconciler.facade import StaleRule


def check_plan_options(
    path: Path | None, plan_file: Path | None, replan: bool, if_stale: str | None
) -> None:
    """Usage errors among PATH, --plan, --replan and --if-stale."""
    if plan_file is not None and path is not None:
        raise click.UsageError("give PATH or --plan FILE, not both")
    if (replan or if_stale) and plan_file is None:
        raise click.UsageError("--replan and --if-stale need a saved plan (--plan FILE)")
    if replan and if_stale not in (None, "replan"):
        raise click.UsageError(f"--replan means --if-stale replan, not --if-stale {if_stale}")


def stale_rule(text: str) -> StaleRule:
    rules: dict[str, StaleRule] = {"fail": "fail", "replan": "replan", "reviewed": "reviewed"}
    return rules[text]


def from_saved(
    saved: SavedPlan, project: Project, environment: str | None, prune: bool, emulator: bool
) -> tuple[SavedPlan, str | None, Path | None]:
    """The saved plan checked against this project, the command line and the tenant it
    names (SavedPlanError, one line, for the first part that differs), and the environment
    and PATH it is applied to: the PATH it was made for, inside this project's connectors
    root (never a folder the file names elsewhere)."""
    from reconciler.facade import bind_saved_plan

    check_saved_against_flags(saved, project, environment, prune)
    chosen = environment or saved.environment
    bound, target = bind_saved_plan(saved, project, chosen, emulator)
    return bound, chosen, target


def continue_command(
    plan_file: Path,
    environment: str | None,
    *,
    prune: bool,
    if_stale: str | None,
    allow_unsafe: bool,
    audit_log: Path | None,
) -> str:
    """The line after a saved plan partly failed: the exact command that applies the rest
    (what this plan already wrote does not make it stale)."""
    words = ["cxrecon", "apply", "--plan", str(plan_file)]
    if environment is not None:
        words += ["-e", environment]
    if prune:
        words.append("--prune")
    if if_stale not in (None, "fail"):
        words += ["--if-stale", str(if_stale)]
    if allow_unsafe:
        words.append("--allow-unsafe")
    if audit_log is not None:
        words += ["--audit-log", str(audit_log)]
    command = " ".join(shlex.quote(word) for word in words)
    return (
        f"To continue once that is fixed: `{command}` (what this plan already wrote is kept; "
        "only the rest is applied)."
    )


def check_saved_against_flags(
    saved: SavedPlan, project: Project, environment: str | None, prune: bool
) -> None:
    """What the command line says wins over the file: refuse a plan made for another
    environment, or with --prune when this apply does not prune."""
    from reconciler.errors import SavedPlanError
    from reconciler.render.escape import terminal

    made_for = saved.environment
    if (
        environment is not None
        and made_for is not None
        and project.environment_label(environment) != made_for
    ):
        raise SavedPlanError(
            f"{saved.path} was planned for environment {terminal(made_for)}, not "
            f"{terminal(environment)}: apply it with -e {terminal(made_for)}, or plan "
            f"-e {terminal(environment)} --out FILE and review that plan"
        )
    if saved.prune and not prune:
        raise SavedPlanError(
            f"{saved.path} was planned with --prune (it deactivates connectors removed from "
            "git): apply it with --prune, or plan without --prune and review that plan"
        )
