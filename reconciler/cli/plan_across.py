"""`cxrecon plan -e sandbox -e production` (or `-e all`): one report across environments,
each environment planned against its own tenant as `cxrecon plan -e NAME` would, then
compared (the facade's compare_plans). Options parsing stays in cli/plan.py.

Exit codes as for one plan, over all of them: 1 if any environment has an error; with
--detailed-exitcode 3 if any is over its safety gate, else 2 if any has changes, else 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from reconciler.errors import ConfigError
from reconciler.facade import open_project

#: `-e all`: every environment of cxrecon.yaml (unless one is named "all").
ALL = "all"


def environments_to_compare(names: Sequence[str]) -> tuple[str, ...] | None:
    """The environments a `plan` run compares, or None for an ordinary one-environment plan
    (no `-e`, or one `-e NAME`)."""
    if len(names) <= 1 and (not names or names[0] != ALL):
        return None
    project = open_project()
    if names == (ALL,) or list(names) == [ALL]:
        if ALL in project.environments:
            return None  # an environment really named "all"
        if not project.environments:
            raise ConfigError(
                f"-e {ALL}: {project.file or 'cxrecon.yaml'} defines no environments; add them "
                "under `environments:` or plan one with -e NAME"
            )
        return tuple(project.environments)
    wanted: list[str] = []
    for name in names:
        for env in project.environments if name == ALL else (name,):
            if env not in wanted:
                wanted.append(env)
    for name in wanted:
        project.environment(name)  # an unknown name: the error lists the known ones
    return tuple(wanted)


def plan_across(
    environments: Sequence[str],
    path: Path | None,
    emulator: bool,
    *,
    output_format: str,
    detailed_exitcode: bool,
    parallelism: int,
    strict: bool,
    prune: bool,
    take_ownership: bool,
    audit_log: Path | None,
    cache: bool = True,
) -> int:
    """Plan each environment, print the comparison, return the exit code."""
    from reconciler.cli.tenant import plan_from_tenant
    from reconciler.facade import compare_plans
    from reconciler.render.comparison import render

    plans = {}
    for name in environments:
        planned = plan_from_tenant(
            path,
            name,
            emulator,
            parallelism=parallelism,
            strict=strict,
            prune=prune,
            take_ownership=take_ownership,
            audit_log=audit_log,
            cache=cache,
        )
        plans[name] = planned.run.plan
    click.echo(render(compare_plans(plans), output_format), nl=False)
    codes = [plan.exit_code(detailed_exitcode) for plan in plans.values()]
    return 1 if 1 in codes else max(codes, default=0)
