"""`cxrecon notify test [--name NAME]`: a test message to each destination of `notifications:`
in cxrecon.yaml, and one line per destination saying how it went (never its URL).

Exit codes: 0 every destination took its message; 1 any did not, none is configured, a
--name matches none, or Apprise (`pip install 'cxrecon[notify]'`) is not installed.
"""

from __future__ import annotations

import click

from reconciler.errors import ConfigError


@click.group()
def notify() -> None:
    """Send a test message to each destination of `notifications:`."""


@notify.command("test")
@click.option(
    "--name",
    "names",
    multiple=True,
    help="Only this destination (its `name` in cxrecon.yaml); repeatable. Default: all.",
)
@click.pass_context
def test(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Send a test message to each notification destination and report each result.

    Each destination gets at most 10 seconds. A URL is never printed: destinations are named
    by their `name`.
    """
    from reconciler.facade import open_project
    from reconciler.notify.send import (
        INSTALL_HINT,
        Notifier,
        Result,
        apprise_available,
    )
    from reconciler.render.escape import terminal

    project = open_project()
    project.require_found(None)  # outside a project: the line naming cxrecon.yaml (issue 24)
    where = str(project.file) if project.file is not None else "cxrecon.yaml"
    configured = [n.name for n in project.notifications]
    if not configured:
        raise ConfigError(
            f"{where} has no notifications; add a `notifications:` list (see "
            "docs/notifications.md), then run this again"
        )
    unknown = [n for n in names if n not in configured]
    if unknown:
        raise ConfigError(
            f"no notification named {', '.join(repr(n) for n in unknown)} in {where} "
            f"(known: {', '.join(configured)})"
        )
    if not apprise_available():
        raise ConfigError(f"notifications need Apprise, which is not installed: {INSTALL_HINT}")
    warnings: list[str] = []
    notifier = Notifier(project.notifications, warn=warnings.append, project=project.name)
    deliveries = notifier.test(names)
    for delivery in deliveries:
        if delivery.result is Result.SENT:
            click.echo(f"{terminal(delivery.destination)}: sent")
        else:
            click.echo(f"{terminal(delivery.destination)}: {delivery.result.value}: {delivery.why}")
    failed = sum(1 for d in deliveries if d.result is not Result.SENT)
    if failed:
        click.echo(
            f"{failed} of {len(deliveries)} destination(s) did not take the message.", err=True
        )
    ctx.exit(1 if failed else 0)
