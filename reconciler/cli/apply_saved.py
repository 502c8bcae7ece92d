"""`cxrecon apply --plan FILE`: the command line checked against a saved plan. What the
command line says wins over the file (environment, --prune), and the file never switches
the run to another project."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from reconciler.config.project import Project
    from reconciler.facade import StaleRule
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


def saved_root(saved: SavedPlan | None) -> Path | None:
    """The project a saved plan was made in, when it is still where the plan says, inside
    the working directory (as `cxrecon plan` recorded it, relative); otherwise the usual
    discovery of cxrecon.yaml from the working directory. A root elsewhere is never taken
    from the file: applying a plan must not switch to another project unseen."""
    if saved is None or saved.root is None:
        return None
    root = Path(saved.root)
    if root.is_absolute() or ".." in root.parts:
        return None
    return root if root.is_dir() else None


def from_saved(
    saved: SavedPlan, project: Project, environment: str | None, prune: bool
) -> tuple[str | None, Path | None]:
    """The environment and PATH a saved plan is applied to, once it is checked against the
    command line: its own PATH when that is still there (else the default)."""
    check_saved_against_flags(saved, project, environment, prune)
    target = Path(saved.target) if saved.target and Path(saved.target).exists() else None
    return environment or saved.environment, target


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
