"""`cxrecon apply --plan FILE`: the command line and the project checked against a saved
plan. What the command line says wins over the file (environment, --prune), and the file
never switches the run to another project, folder or tenant (reconciler.plan.binding)."""

from __future__ import annotations

import dataclasses
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from reconciler.config.project import Project
    from reconciler.facade import StaleRule
    from reconciler.plan.binding import PlanBinding
    from reconciler.plan.saved import SavedPlan


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


def binding_here(project: Project, environment: str | None, emulator: bool) -> PlanBinding:
    """What a plan made (or applied) here is bound to: this project's identity, the
    environment, the tenant its connection settings name, the connectors root and the
    commit checked out."""
    from reconciler.config.settings import ConnectionSettings
    from reconciler.plan.binding import PlanBinding, connectors_root, git_commit, tenant_of

    if emulator:
        tenant = tenant_of("", emulated=True)
    else:
        env = project.environment(environment)
        settings = ConnectionSettings.from_sources(os.environ, dict(env.connection))
        discovery = settings.discovery.url if settings.discovery is not None else None
        tenant = tenant_of(settings.base_url, discovery)
    return PlanBinding(
        project=project.project_id,
        environment=project.environment_label(environment),
        tenant=tenant,
        connectors=connectors_root(project.root, project.connectors_path),
        commit=git_commit(project.root),
    )


def from_saved(
    saved: SavedPlan, project: Project, environment: str | None, prune: bool, emulator: bool
) -> tuple[SavedPlan, str | None, Path | None]:
    """The saved plan checked against this project, the command line and the tenant it
    names (SavedPlanError, one line, for the first part that differs), and the environment
    and PATH it is applied to: the PATH it was made for, inside this project's connectors
    root (never a folder the file names elsewhere)."""
    from reconciler.plan.binding import check_binding, target_inside

    check_saved_against_flags(saved, project, environment, prune)
    chosen = environment or saved.environment
    here = binding_here(project, chosen, emulator)
    check_binding(saved.path, saved.binding, here)
    target = target_inside(saved.path, saved.target, project.root, project.connectors_path)
    return dataclasses.replace(saved, here=here), chosen, target


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
