"""Saved plans through the facade: `plan --out` writes one bound to where it was made, `apply
--plan` reads it back and checks it against the project, tenant and folder it is applied to
(the threat model is in reconciler.plan.binding)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from reconciler.config.project import Project
from reconciler.config.settings import ConnectionSettings
from reconciler.errors import PlanError, SavedPlanError
from reconciler.plan.binding import (
    PlanBinding,
    check_binding,
    connectors_root,
    connectors_root_text,
    git_commit,
    target_inside,
    tenant_of,
)
from reconciler.plan.changes import Plan
from reconciler.plan.saved import PlanSource, SavedPlan, read, write
from reconciler.safefs import ensure_dir, refuse_links, write_failure


def read_saved_plan(path: Path) -> SavedPlan:
    """A saved plan, its checksum verified (SavedPlanError saying what to do otherwise)."""
    return read(path)


def binding_here(project: Project, environment: str | None, emulator: bool) -> PlanBinding:
    """What a plan made (or applied) here is bound to: this project's identity, the
    environment, the tenant its connection settings name (`emulator`: the embedded one), the
    connectors root and the commit checked out."""
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


def bind_saved_plan(
    saved: SavedPlan, project: Project, environment: str | None, emulator: bool
) -> tuple[SavedPlan, Path | None]:
    """`saved` checked against what it is applied to here (SavedPlanError, one line, for the
    first part that differs), and the PATH it covers: the one it was made for, inside this
    project's connectors root (never a folder the file names elsewhere)."""
    here = binding_here(project, environment, emulator)
    check_binding(saved.path, saved.binding, here)
    target = target_inside(saved.path, saved.target, project.root, project.connectors_path)
    return replace(saved, here=here), target


def save_plan(
    plan: Plan,
    out: Path,
    project: Project,
    *,
    environment: str | None,
    emulator: bool,
    path: Path | None,
) -> None:
    """Write the saved plan, bound to this project, environment, tenant, connectors root and
    commit; never through a link inside the project (its folders are repository content)."""
    binding = binding_here(project, environment, emulator)
    source = PlanSource(root=project.root, target=path)
    # A PATH `apply --plan` would refuse is refused now, before anyone reviews the plan.
    try:
        target_inside(out, source.to_json()["path"], project.root, project.connectors_path)
    except SavedPlanError:
        where = connectors_root_text(project.root, project.connectors_path)
        raise PlanError(
            f"--out: {path} is outside the connectors root {where!r} of the project "
            f"{project.root}; a saved plan covers connectors there only: move the files into "
            "it (or set `connectors:` in cxrecon.yaml), or plan without --out"
        ) from None
    folder = out.absolute().parent
    # Where the path is written inside the project, not where it leads: a folder committed
    # as a link out of it is refused, never followed.
    inside = [
        r for r in (project.root.absolute(), project.root.resolve()) if folder.is_relative_to(r)
    ]
    if inside:
        refuse_links(inside[0], folder)
        ensure_dir(inside[0], folder)
    elif not folder.is_dir():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_failure(out, exc, what="saved plan") from None
    write(plan, out, source, binding=binding)
