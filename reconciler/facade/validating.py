"""Validation through the facade (`cxrecon validate`): cxrecon.yaml checked first (its sync
windows too), then the desired state of one environment or of every one, and the
`policies:` that can be judged offline. No network."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.celpolicy.compile import PolicyRule
from reconciler.celpolicy.evaluate import Violation, check_desired, skipped_offline
from reconciler.config.project import EnvironmentConfig, Project, load_project
from reconciler.load.cache import FileCache
from reconciler.load.desired import LoadResult, read_desired


@dataclass(frozen=True)
class Scope:
    """What one validation covers: the project, the environment its result is for (None:
    no environment is chosen) and every other environment checked alongside."""

    project: Project
    env: EnvironmentConfig | None
    others: tuple[EnvironmentConfig, ...]


def validation_scope(environment: str | None = None, root: Path | None = None) -> Scope:
    """The project found at `root` (default: the working directory) and the environments to
    check: `environment` alone, else every one of cxrecon.yaml (so a `${var:}` missing from
    any is reported with its name). ConfigError (its diagnostics located) for what is wrong
    with cxrecon.yaml, sync windows included (cron schedules, time zones, durations)."""
    project = load_project(root)
    if environment is not None:
        return Scope(project, project.environment(environment), ())
    if not project.environments:
        return Scope(project, None, ())
    default = project.environment(None) if project.default_environment else None
    return Scope(project, default, tuple(project.environments.values()))


@dataclass(frozen=True)
class Validation:
    """The desired state as loaded and checked, and the policies it breaks."""

    loaded: LoadResult
    violations: tuple[Violation, ...]
    #: The policies validate cannot judge (they read `current` or `change`: a plan's).
    skipped: tuple[PolicyRule, ...]
    #: Files found in the cache of checked files, and files checked anew (None: no cache;
    #: telemetry's CacheUse would bring the API client's accounting into a run without it).
    cache_hits: int | None = None
    cache_misses: int | None = None

    @property
    def ok(self) -> bool:
        """No error in the files and no policy of severity error broken."""
        return self.loaded.ok and not any(v.severity == "error" for v in self.violations)


def validate_desired(
    scope: Scope, path: Path | None = None, *, strict: bool = False, cache: bool = True
) -> Validation:
    """Load, schema-check and lint the connector files at `path` (default: the project's
    connectors path) for every environment of `scope`, reusing the checked files of earlier
    runs with `cache`; then the offline policies."""
    project = scope.project
    target = path if path is not None else project.connectors_path
    files = FileCache.for_project(project.root) if cache else None
    loaded = read_desired(
        target,
        scope.env,
        strict=strict,
        check_environments=scope.others,
        project=project,
        cache=files,
    )
    if files is not None:
        files.close()
    return Validation(
        loaded,
        _violations(project, target, loaded, scope.env, scope.others),
        skipped_offline(project.cel_policies.rules),
        None if files is None else files.hits,
        None if files is None else files.misses,
    )


def _violations(
    project: Project,
    target: Path,
    result: LoadResult,
    env: EnvironmentConfig | None,
    others: Sequence[EnvironmentConfig],
) -> tuple[Violation, ...]:
    """Violations over `result` (the environment it was loaded for) and, when validating
    every environment, over each other environment's connectors (its vars and overrides)."""
    rules = project.cel_policies.rules
    if not rules or not result.ok:
        return ()
    label = env.name if env is not None else result.environment
    out = list(
        check_desired(rules, result.connectors, environment=label, project=project.project_id or "")
    )
    for other in others:
        if other.name == label:
            continue  # checked above (also when no -e chose it: the default environment)
        loaded = read_desired(target, other, project=project)
        if loaded.ok:
            out.extend(
                check_desired(
                    rules,
                    loaded.connectors,
                    environment=other.name,
                    project=project.project_id or "",
                )
            )
    return tuple(out)
